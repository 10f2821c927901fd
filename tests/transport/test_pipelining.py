"""RFC 2920 PIPELINING and reply bookkeeping, against bare servers scripted line by line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport.samples import sample_envelope

FAST = SmtpTimeouts(connect=2, mail=2, rcpt=2, data_init=2, data_block=2, data_end=2, command=2)
EHLO = b"250-bare.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"

Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Script"], Awaitable[None]]


@dataclass
class Script:
    """What a bare server saw: the bytes of each read of commands, and the messages taken."""

    reads: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    sessions: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def _serve(session: Session) -> AsyncIterator[tuple[int, Script]]:
    script = Script()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.sessions += 1
        script.writers.append(writer)
        writer.write(b"220 bare.test ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(EHLO)
        try:
            await session(reader, writer, script)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1]), script
    server.close()
    await server.wait_closed()


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    """Message lines up to and including the lone "." line."""
    data = b""
    while line := await reader.readline():
        data += line
        if line == b".\r\n":
            break
    return data


async def _strict_pipeliner(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, script: Script
) -> None:
    """Answers nothing until it has read MAIL, RCPT and DATA: only a pipelining client gets on."""
    while True:
        commands = b""
        while not commands.endswith(b"DATA\r\n"):
            line = await reader.readline()
            if not line or line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                return
            commands += line
        script.reads.append(commands)
        writer.write(b"250 sender ok\r\n250 recipient ok\r\n354 go on\r\n")
        script.messages.append(await _read_data(reader))
        writer.write(b"250 2.0.0 queued\r\n")


def _line_by_line(rcpt_reply: bytes, after_data: bytes) -> Session:
    """A server answering each line as it comes: `rcpt_reply` to RCPT, `after_data` to the end
    of the data (354 to DATA in any case, as a careless server might)."""

    async def session(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, script: Script
    ) -> None:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                return
            if verb == b"DATA":
                writer.write(b"354 go on\r\n")
                script.messages.append(await _read_data(reader))
                writer.write(after_data)
            else:
                writer.write(rcpt_reply if verb == b"RCPT" else b"250 ok\r\n")

    return session


# Refuses the recipient, then (wrongly) answers DATA with 354.
_accepts_data_anyway = _line_by_line(b"550 5.1.1 no such user\r\n", b"554 5.5.1 no recipients\r\n")
# Takes a message, then sends a 421 nobody asked for and keeps the connection open.
_says_goodbye_when_idle = _line_by_line(b"250 ok\r\n", b"250 queued\r\n421 4.4.2 idle too long\r\n")


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport(SmtpOptions(port=port, timeouts=FAST, local_hostname="client.test"))


async def test_mail_rcpt_and_data_go_in_one_write() -> None:
    async with _serve(_strict_pipeliner) as (port, script), _transport(port) as transport:
        results = [await transport.send(sample_envelope(f"c{i}@example.com", i)) for i in range(3)]
    assert [r.status for r in results] == ["sent"] * 3
    assert script.sessions == 1
    assert [read.count(b"\r\n") for read in script.reads] == [3, 3, 3]
    assert (
        script.reads[0].startswith(b"MAIL FROM:<")
        and b"RCPT TO:<c0@example.com>" in script.reads[0]
    )
    assert all(message.endswith(b"\r\n.\r\n") for message in script.messages)


async def test_data_accepted_after_a_refused_recipient_delivers_nothing() -> None:
    async with _serve(_accepts_data_anyway) as (port, script), _transport(port) as transport:
        refused = await transport.send(sample_envelope("gone@example.com", 1))
        assert (refused.status, refused.smtp_code, refused.stage) == ("failed", 550, "rcpt")
        assert refused.hard_bounce
    assert script.messages == [b".\r\n"]  # the empty end RFC 2920 asks for, no message content


async def test_a_reply_nobody_asked_for_retires_the_connection() -> None:
    async with _serve(_says_goodbye_when_idle) as (port, script), _transport(port) as transport:
        first = await transport.send(sample_envelope("a@example.com", 1))
        await asyncio.sleep(0.05)  # the stray 421 arrives while the connection is idle
        second = await transport.send(sample_envelope("b@example.com", 2))
    assert (first.status, second.status) == ("sent", "sent")
    assert len(script.messages) == 2
    assert script.sessions == 2  # the 421 was never taken for the next message's reply


async def test_a_reply_that_is_not_smtp_defers_and_drops_the_connection() -> None:
    garbled = _line_by_line(b"hello, this is not SMTP\r\n", b"250 queued\r\n")
    async with _serve(garbled) as (port, script), _transport(port) as transport:
        result = await transport.send(sample_envelope("jane@example.com", 1))
    assert (result.status, result.smtp_code, result.stage) == ("deferred", None, "mail")
    assert "not an SMTP reply" in result.reply
    assert script.messages == []


async def _slow_multiline_refusal(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, script: Script
) -> None:
    """Refuses the recipient with a two-line reply whose lines come in separate packets."""
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"RCPT":
            writer.write(b"550-5.1.1 the mailbox jane does not exist\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"550 5.1.1 see https://postmaster.example/550\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            return
        else:
            writer.write(b"503 no valid recipients\r\n" if verb == b"DATA" else b"250 ok\r\n")


async def test_a_multiline_reply_split_across_packets_is_read_whole() -> None:
    async with _serve(_slow_multiline_refusal) as (port, _), _transport(port) as transport:
        result = await transport.send(sample_envelope("jane@example.com", 1))
    assert (result.status, result.smtp_code, result.stage) == ("failed", 550, "rcpt")
    assert "does not exist" in result.reply and "postmaster.example" in result.reply
    assert result.hard_bounce
