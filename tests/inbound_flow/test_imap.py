"""The IMAP poller against a real Dovecot: unseen messages are stored, then flagged \\Seen, and
fed through the same pipeline; the poller lives through a server restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
from pydantic import SecretStr

from mailengine.clock import FrozenClock
from mailengine.config import ImapSettings, Settings
from mailengine.inbound.imap import ImapPoller, MailboxError
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from tests.inbound_flow.conftest import SECRET, inbound_rows, outbox_rows, question
from tests.inbound_flow.dovecot import PASSWORD, USER, Dovecot


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    server = Dovecot(tmp_path / "imap")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_pipeline(
    sqlite_database: Database, settings: Settings, clock: FrozenClock
) -> InboundPipeline:
    """For what concerns only the mailbox side: one database kind is enough."""
    return InboundPipeline(sqlite_database, settings, SECRET, clock)


def _settings(server: Dovecot, password: str = PASSWORD, poll_seconds: float = 60) -> ImapSettings:
    return ImapSettings(
        enabled=True,
        host="127.0.0.1",
        port=server.port,
        tls=False,
        username=USER,
        password=SecretStr(password),
        poll_seconds=poll_seconds,
    )


async def _mailbox(server: Dovecot) -> Any:
    """A logged-in client (a server that just started may refuse the first try)."""
    for _ in range(50):
        client = aioimaplib.IMAP4(host="127.0.0.1", port=server.port, timeout=5)
        await client.wait_hello_from_server()
        if (await client.login(USER, PASSWORD)).result == "OK":
            return client
        await client.logout()
        await asyncio.sleep(0.1)
    raise AssertionError("the test IMAP server refuses the test account")


async def _append(server: Dovecot, *messages: bytes) -> None:
    client = await _mailbox(server)
    for raw in messages:
        assert (await client.append(raw, mailbox="INBOX")).result == "OK"
    await client.logout()


async def _unseen(server: Dovecot) -> list[bytes]:
    client = await _mailbox(server)
    await client.select("INBOX")
    found = await client.uid_search("UNSEEN")
    await client.logout()
    return bytes(found.lines[0]).split()


async def test_unseen_messages_are_stored_flagged_and_answered_once(
    dovecot: Dovecot, pipeline: InboundPipeline, database: Database
) -> None:
    out_of_office = question(
        sender="carl@customer.example",
        subject="Out of office: Where is my order?",
        message_id="<ooo-1@customer.example>",
        headers=[("Auto-Submitted", "auto-replied")],
    )
    await _append(dovecot, question(), out_of_office)
    poller = ImapPoller(_settings(dovecot), pipeline, timeout=5)
    assert await poller.poll_once() == 2
    assert await _unseen(dovecot) == []
    assert [row["source"] for row in inbound_rows(database)] == ["imap", "imap"]
    results = await pipeline.drain()
    assert [(r.classification, r.acknowledged) for r in results] == [
        ("human", True),
        ("auto_reply", False),
    ]
    # Nothing new: nothing stored. The same message again (a second copy in the folder):
    # stored once, answered once.
    assert await poller.poll_once() == 0
    await _append(dovecot, question())
    assert await poller.poll_once() == 1
    assert await pipeline.drain() == []
    assert len(inbound_rows(database)) == 2
    assert len(outbox_rows(database, step="acknowledge")) == 1


async def test_a_refused_login_is_reported(
    dovecot: Dovecot, sqlite_pipeline: InboundPipeline
) -> None:
    poller = ImapPoller(_settings(dovecot, password="wrong"), sqlite_pipeline, timeout=5)
    with pytest.raises(MailboxError, match="refused LOGIN"):
        await poller.poll_once()


class _Cable:
    """A TCP relay between the poller and the IMAP server that the test can unplug."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._plugged = False

    async def plug(self) -> None:
        self._plugged = True
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def unplug(self) -> None:
        """Stop listening and cut every relayed connection, also one still being set up
        (accepted before the close, its upstream not yet connected)."""
        assert self._server is not None
        self._server.close()
        self._plugged = False
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        # This waits for the accepted connections to close too: a relay left open would
        # hang the test rather than fail it.
        await asyncio.wait_for(self._server.wait_closed(), 10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._plugged:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        if not self._plugged:  # unplugged while connecting upstream
            writer.close()
            up_writer.close()
            return
        self._writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_the_poller_lives_through_a_lost_connection(
    dovecot: Dovecot, sqlite_pipeline: InboundPipeline, sqlite_database: Database
) -> None:
    cable = _Cable(dovecot.port)
    await cable.plug()
    settings = _settings(dovecot, poll_seconds=0.05).model_copy(update={"port": cable.port})
    poller = ImapPoller(settings, sqlite_pipeline, timeout=1, longest_pause=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    try:
        await _append(dovecot, question())
        await _wait_for(lambda: len(inbound_rows(sqlite_database)) == 1)
        await cable.unplug()
        await _wait_for(lambda: poller.failures >= 2)  # it keeps trying while cut off
        await _append(dovecot, question(subject="Second", message_id="<q-2@customer.example>"))
        await cable.plug()
        await _wait_for(lambda: len(inbound_rows(sqlite_database)) == 2)
        await _wait_for(lambda: poller.failures == 0)
    finally:
        stop.set()
        await running
        await cable.unplug()


async def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not come true in time")
