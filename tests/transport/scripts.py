"""Scripted SMTP peers for `BareServer`: each misbehaves in one way a real server can."""

from __future__ import annotations

import asyncio

from tests.transport.conftest import ScriptedSession

GREETING = b"220 scripted ESMTP\r\n"
EHLO_REPLY = b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the connection and never says a word."""
    await reader.read()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Closes every connection as soon as it is made."""


async def busy_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greets with 421 and closes."""
    writer.write(b"421 4.7.0 too many connections, try again later\r\n")
    await writer.drain()


async def broken_starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Offers STARTTLS, agrees to it, then answers the TLS handshake with plain text."""
    writer.write(GREETING)
    while line := await reader.readline():
        verb = line[:8].upper()
        if verb.startswith(b"EHLO"):
            writer.write(b"250-scripted\r\n250 STARTTLS\r\n")
        elif verb.startswith(b"STARTTLS"):
            writer.write(b"220 2.0.0 ready to start TLS\r\n")
            await writer.drain()
            await reader.read(100)  # the ClientHello
            writer.write(b"this is not TLS at all\r\n" * 4)
            await writer.drain()
            return
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()


def stalls_at(verb: bytes, *, greeting_delay: float = 0.0) -> ScriptedSession:
    """A server that answers everything with 250 (354 to DATA) until `verb`, then goes silent
    (b"DATA-END" stalls after the message data)."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(greeting_delay)
        writer.write(GREETING)
        while line := await reader.readline():
            command = line.split(b" ", 1)[0].strip().upper()
            if command == verb:
                await reader.read()
                return
            if command == b"EHLO":
                writer.write(EHLO_REPLY)
            elif command == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                if verb == b"DATA-END":
                    await reader.read()
                    return
                writer.write(b"250 2.0.0 queued\r\n")
            elif command == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()

    return session


def closes_after(messages: int) -> ScriptedSession:
    """Takes `messages` messages, then answers the next MAIL with 421 and hangs up."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken = 0
        writer.write(GREETING)
        while line := await reader.readline():
            command = line.split(b" ", 1)[0].strip().upper()
            if command == b"EHLO":
                writer.write(EHLO_REPLY)
            elif command == b"MAIL" and taken >= messages:
                writer.write(b"421 4.7.0 closing this session\r\n")
                await writer.drain()
                return
            elif command == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                taken += 1
                writer.write(b"250 2.0.0 queued\r\n")
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()

    return session
