"""Real SMTP servers on 127.0.0.1, port 0: a recording one and one that misbehaves on cue.

Options for the aiosmtpd server come from `@pytest.mark.smtpd_options(...)` (tls_context,
require_starttls, authenticator, auth_require_tls, timeout, ...).

The misbehaving server acts on the recipient's local part:
  unknown   550 5.1.1 at RCPT          full      452 4.2.2 at RCPT
  greylist  451 4.7.1 at RCPT          goodbye   421 4.7.0 at RCPT, then closes
  busy      450 4.2.1 at RCPT
  too-big   552 5.3.4 after the data   drop      closes after the data, no reply
  stall     no reply after the data (longer than any test timeout)
and, with `smtpd_options(messages_per_session=N)`, answers MAIL with 421 after N messages.

Both servers run twice: advertising PIPELINING (RFC 2920, as Postfix and most servers do, so
the client sends MAIL, RCPT and DATA at once) and not (the client waits for each reply).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

STALL_SECONDS = 30.0


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session: int


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class RecordingHandler:
    def __init__(self, *, pipelining: bool = True) -> None:
        self.messages: list[Received] = []
        self.resets = 0
        self.pipelining = pipelining

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.resets += 1
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(
            Received(
                (envelope.mail_from or "").strip("<>"),
                list(envelope.rcpt_tos),
                envelope.content,
                id(session),
            )
        )
        return "250 2.0.0 OK: queued"


class MisbehavingHandler(RecordingHandler):
    def __init__(self, messages_per_session: int = 0, *, pipelining: bool = True) -> None:
        super().__init__(pipelining=pipelining)
        self.messages_per_session = messages_per_session
        self._per_session: dict[int, int] = {}

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.messages_per_session and self._per_session.get(id(session), 0) >= (
            self.messages_per_session
        ):
            asyncio.get_running_loop().call_later(0.01, _close, server)
            return "421 4.7.0 too many messages in this session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.partition("@")[0]
        if local == "unknown":
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if local == "full":
            return "452 4.2.2 mailbox full, try again later"
        if local == "greylist":
            return "451 4.7.1 greylisted, please try again in 5 minutes"
        if local == "busy":
            return "450 4.2.1 mailbox busy, try again later"
        if local == "goodbye":
            asyncio.get_running_loop().call_later(0.01, _close, server)
            return "421 4.7.0 too many connections from your host, closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        local = envelope.rcpt_tos[0].partition("@")[0]
        if local == "too-big":
            return "552 5.3.4 message size exceeds fixed maximum message size"
        if local == "drop":
            _close(server)
            return "250 never seen"
        if local == "stall":
            await asyncio.sleep(STALL_SECONDS)
        self._per_session[id(session)] = self._per_session.get(id(session), 0) + 1
        return await super().handle_DATA(server, session, envelope)


@dataclass
class SmtpServer:
    handler: RecordingHandler
    server: asyncio.Server
    sessions: int = 0
    protocols: set[SMTP] = field(default_factory=set)

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await self.server.wait_closed()
        await asyncio.sleep(0.01)


async def start_server(handler: RecordingHandler, **options: Any) -> SmtpServer:
    loop = asyncio.get_running_loop()
    ssl_context = options.pop("server_ssl", None)
    holder: list[SmtpServer] = []

    def factory() -> SMTP:
        protocol = SMTP(handler, hostname="test.smtpd", loop=loop, **options)
        holder[0].sessions += 1
        holder[0].protocols.add(protocol)
        return protocol

    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_context)
    holder.append(SmtpServer(handler, server))
    return holder[0]


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("smtpd_options")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture(params=[True, False], ids=["pipelining", "stepwise"])
async def smtpd(request: pytest.FixtureRequest) -> AsyncIterator[SmtpServer]:
    """A well-behaved server recording every message and counting sessions."""
    handler = RecordingHandler(pipelining=request.param)
    server = await start_server(handler, **_options(request))
    yield server
    await server.close()


@pytest.fixture(params=[True, False], ids=["pipelining", "stepwise"])
async def bad_smtpd(request: pytest.FixtureRequest) -> AsyncIterator[SmtpServer]:
    """The misbehaving server (see the module docstring)."""
    options = _options(request)
    handler = MisbehavingHandler(options.pop("messages_per_session", 0), pipelining=request.param)
    server = await start_server(handler, **options)
    yield server
    await server.close()


@pytest.fixture
async def mid_data_dropper() -> AsyncIterator[int]:
    """A bare server that accepts MAIL, RCPT and DATA, then hangs up inside the data."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 dropper ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await reader.read(1000)  # part of the message, then gone
                break
            writer.write(b"250 OK\r\n" if verb != b"QUIT" else b"221 bye\r\n")
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


ScriptedSession = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class BareServer:
    """A hand-written server on 127.0.0.1, port 0, for misbehaviour aiosmtpd cannot show:
    `session` talks to each connection (and may be swapped while it runs); `connections`
    counts them, `most_at_once` the most that were open together. Connections still open are
    cut at close, which ends their sessions."""

    def __init__(self, session: ScriptedSession) -> None:
        self.session = session
        self.connections = 0
        self.most_at_once = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._ended = asyncio.Condition()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> BareServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(writer)
        self.most_at_once = max(self.most_at_once, len(self._open))
        try:
            await self.session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._open.discard(writer)
            async with self._ended:
                self._ended.notify_all()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        async with self._ended:
            await asyncio.wait_for(self._ended.wait_for(lambda: not self._open), timeout=10)
        await self._server.wait_closed()


@pytest.fixture
async def bare_server() -> AsyncIterator[Callable[[ScriptedSession], Awaitable[BareServer]]]:
    """Start BareServers; every one is closed at the end, whatever the test did."""
    started: list[BareServer] = []

    async def start(session: ScriptedSession) -> BareServer:
        server = await BareServer(session).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


class SteppedClock:
    """A monotonic clock (seconds) that moves only when told to: `clock()`, `advance(s)`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
