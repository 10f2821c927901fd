"""The inbound listener holds at most `inbound.smtp.max_sessions` sessions: one more connection
is greeted with 421 and closed, and once a session ends a new one is served. A session that
goes quiet, between commands or in the middle of a message, is closed after
`inbound.smtp.command_timeout_seconds`, and one whose data never ends a line once the line is
over the size limit. Real sockets against the real listener on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from mailengine.config import Settings
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from tests.inbound_flow.conftest import SMTP_LIMIT, deliver, inbound_rows, question
from tests.waiting import PATIENCE, until

MAX_SESSIONS = 4
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@asynccontextmanager
async def listening(
    pipeline: InboundPipeline, settings: Settings, **limits: float
) -> AsyncIterator[InboundSmtpListener]:
    smtp = settings.inbound.smtp.model_copy(update=limits)
    listener = InboundSmtpListener(pipeline, smtp, hostname="inbound.test")
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


async def connect(port: int) -> tuple[Connection, bytes]:
    """A raw connection and the server's first line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return (reader, writer), await asyncio.wait_for(reader.readline(), PATIENCE)


async def start_data(port: int) -> Connection:
    """A connection that has sent DATA and got 354: what follows is the message."""
    (reader, writer), _ = await connect(port)
    for command in (b"EHLO client.example", b"MAIL FROM:<anna@customer.example>",
                    b"RCPT TO:<support@shop.example>", b"DATA"):  # fmt: skip
        writer.write(command + b"\r\n")
        while (line := await reader.readline())[3:4] == b"-":
            pass
    assert line.startswith(b"354"), line
    return reader, writer


async def write_without_line_end(writer: asyncio.StreamWriter, total: int) -> None:
    chunk = b"x" * 65536
    for _ in range(total // len(chunk)):
        writer.write(chunk)
        await writer.drain()


async def hang_up(connection: Connection) -> None:
    connection[1].close()
    await connection[1].wait_closed()


async def closed_by_server(connection: Connection) -> bool:
    """Whether the server closes the connection (all it still says is read and dropped)."""
    rest = await asyncio.wait_for(connection[0].read(), PATIENCE)
    return connection[0].at_eof() and b"250" not in rest


async def test_one_session_over_the_limit_gets_421_and_a_freed_place_is_served_again(
    pipeline: InboundPipeline, settings: Settings, database: Database
) -> None:
    async with listening(pipeline, settings, max_sessions=MAX_SESSIONS) as listener:
        held = []
        for _ in range(MAX_SESSIONS):
            connection, greeting = await connect(listener.port)
            assert greeting.startswith(b"220 inbound.test ")
            held.append(connection)
        extra, greeting = await connect(listener.port)
        assert greeting == b"421 inbound.test too many connections, try later\r\n"
        assert await closed_by_server(extra)
        await hang_up(extra)
        assert (listener.open_sessions, listener.refused) == (MAX_SESSIONS, 1)

        reader, writer = held.pop()
        writer.write(b"QUIT\r\n")
        assert (await reader.readline()).startswith(b"221")
        await hang_up((reader, writer))
        await until(lambda: listener.open_sessions == MAX_SESSIONS - 1, "a session ends")
        reply = await deliver(listener.port, question())
        assert reply.startswith("2.0.0 OK: stored as")
        assert len(inbound_rows(database)) == 1
        for connection in held:
            await hang_up(connection)
        await until(lambda: listener.open_sessions == 0, "every session ends")


async def test_a_flood_over_the_limit_costs_no_session_and_no_lasting_memory(
    pipeline: InboundPipeline, settings: Settings
) -> None:
    async with listening(pipeline, settings, max_sessions=MAX_SESSIONS) as listener:
        held = [(await connect(listener.port))[0] for _ in range(MAX_SESSIONS)]

        async def refused_batch() -> None:
            batch = await asyncio.gather(*(connect(listener.port) for _ in range(50)))
            assert {greeting[:4] for _, greeting in batch} == {b"421 "}
            for connection, _ in batch:
                assert await closed_by_server(connection)
                await hang_up(connection)
            assert listener.open_sessions == MAX_SESSIONS

        await refused_batch()  # the event loop's own first-time allocations
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(6):
                await refused_batch()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert listener.refused == 7 * 50
        # 300 refused connections left nothing behind (8 KB measured: caches of the loop).
        assert grown < 128 * 1024, f"{grown} bytes still allocated after 300 refusals"
        for connection in held:
            await hang_up(connection)


async def test_a_quiet_session_is_closed_between_commands_and_in_the_middle_of_a_message(
    pipeline: InboundPipeline, settings: Settings, database: Database
) -> None:
    async with listening(pipeline, settings, command_timeout_seconds=0.3) as listener:
        idle, greeting = await connect(listener.port)
        assert greeting.startswith(b"220 ")
        assert await closed_by_server(idle)
        await hang_up(idle)

        stalled = await start_data(listener.port)
        stalled[1].write(b"Subject: half a message\r\n\r\nand then nothing more")
        assert await closed_by_server(stalled)
        await hang_up(stalled)
        await until(lambda: listener.open_sessions == 0, "the quiet sessions are closed")
        assert inbound_rows(database) == []


async def test_message_data_that_never_ends_a_line_closes_the_session(
    pipeline: InboundPipeline, settings: Settings, database: Database
) -> None:
    """aiosmtpd would keep every byte of such a line; the session ends once the line is
    longer than any message it may take (`inbound.smtp.max_message_bytes`)."""
    async with listening(pipeline, settings) as listener:
        _, writer = await start_data(listener.port)
        with pytest.raises(ConnectionError):
            await write_without_line_end(writer, 200 * SMTP_LIMIT)  # 40 MB, far over the limit
        await until(lambda: listener.open_sessions == 0, "the session is closed")
        writer.close()
        assert inbound_rows(database) == []
