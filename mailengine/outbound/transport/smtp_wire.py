"""The mail-transaction side of an SMTP connection: commands out, replies queued in order.

aiosmtplib opens the connection (TCP or TLS, greeting, EHLO, STARTTLS, AUTH); this protocol
then takes the transport over for the transactions. Unlike aiosmtplib's protocol, which keeps
one reply and drops anything arriving before it is read, it queues every complete reply, so
several commands can be written at once (RFC 2920 PIPELINING: MAIL, RCPT and DATA in one
packet, their three replies read afterwards) and a reply arriving early is kept.

A reply nobody asked for (a "421 idle timeout" while the connection waits in the pool) marks
the connection unusable, so it is never paired with the next command.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import NamedTuple

MAX_REPLY_BYTES = 64 * 1024  # one reply, continuation lines included; EHLO is a few hundred


class Reply(NamedTuple):
    """A complete reply: its code, and its text (continuation lines joined by newlines).
    A named tuple: made four times a message, a frozen dataclass cost three times as much."""

    code: int
    text: str


class ConnectionLost(Exception):
    """The server closed the connection, or it broke, before the awaited reply came."""


class MalformedReply(ConnectionLost):
    """The server sent something that is not an SMTP reply; the connection is closed."""


class ReplyTimeout(TimeoutError):
    """No reply (or no room to write) within the time allowed."""


class SmtpWire(asyncio.Protocol):
    """Writes commands and message data; hands back replies in the order they came."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._continued: list[bytes] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._paused = False
        self._lost: ConnectionLost | None = None
        self._owed = 0  # replies due for commands written and not yet read
        self.unsolicited = False

    @classmethod
    def take_over(cls, transport: asyncio.BaseTransport) -> SmtpWire:
        """Become the protocol of an open, idle connection (no reply pending on it)."""
        wire = cls(transport)  # type: ignore[arg-type]
        transport.set_protocol(wire)
        return wire

    @property
    def usable(self) -> bool:
        """Open, and nothing arrived that no command asked for."""
        return self._lost is None and not self._transport.is_closing() and not self.unsolicited

    # Writing

    def send(self, data: bytes, replies: int) -> None:
        """Write commands (or message data) that `replies` replies will answer."""
        if self._lost is not None:
            raise self._lost
        if self._transport.is_closing():
            raise ConnectionLost("connection closed")
        self._owed += replies
        self._transport.write(data)

    async def drain(self, within: float, until: float = math.inf) -> None:
        """Wait until the transport's buffer is below its high-water mark again: `within`
        seconds, and not past `until` (a deadline in `time.monotonic` seconds)."""
        if not self._paused:
            return
        if self._lost is not None:
            raise self._lost
        self._writable = self._loop.create_future()
        await self._wait(self._writable, within, until, "the server took no more data")
        if self._lost is not None:
            raise self._lost

    # Reading

    async def reply(self, within: float, until: float = math.inf) -> Reply:
        """The next reply; ReplyTimeout after `within` seconds or at `until` (a deadline in
        `time.monotonic` seconds), whichever comes first; ConnectionLost if it broke."""
        while not self._replies:
            if self._lost is not None:
                raise self._lost
            self._waiter = self._loop.create_future()
            await self._wait(self._waiter, within, until, "no reply in time")
        self._owed -= 1
        return self._replies.popleft()

    async def _wait(
        self, future: asyncio.Future[None], within: float, until: float, what: str
    ) -> None:
        if until != math.inf:
            within = min(within, max(0.0, until - time.monotonic()))
        timer = self._loop.call_later(within, _time_out, future, what, within)
        try:
            await future
        finally:
            timer.cancel()

    # Closing

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping what is still buffered (after a timeout or a broken reply)."""
        self._transport.abort()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer:
            buffer += data
            data = bytes(buffer)
            buffer.clear()
        lines = data.split(b"\n")
        rest = lines.pop()  # after the last line end: a line not complete yet
        if rest:
            buffer += rest
        continued = self._continued  # lines of a multi-line reply whose last line has not come
        arrived = False
        for line in lines:
            line = line.rstrip(b"\r")
            mark = line[3:4]
            if not line[:3].isdigit() or mark not in (b" ", b"-", b""):
                self._broken(MalformedReply(f"not an SMTP reply: {line[:80]!r}"))
                return
            if mark == b"-":
                continued.append(line)
                continue
            if continued:
                continued.append(line)
                text = "\n".join(_text(part) for part in continued)
                continued.clear()
            else:
                text = _text(line)
            self._arrived(Reply(int(line[:3]), text))
            arrived = True
        if arrived and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if len(buffer) + sum(map(len, continued)) > MAX_REPLY_BYTES:
            self._broken(MalformedReply("a reply longer than 64 KB"))

    def eof_received(self) -> bool:
        self._gone(ConnectionLost("the server closed the connection"))
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "the server closed the connection"
        self._gone(ConnectionLost(reason))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # Internals

    def _arrived(self, reply: Reply) -> None:
        """Queue a reply (`data_received` wakes the reader once for all that came)."""
        if self._owed <= len(self._replies):
            self.unsolicited = True
        self._replies.append(reply)

    def _broken(self, error: ConnectionLost) -> None:
        self._buffer.clear()
        self._gone(error)
        self._transport.abort()

    def _gone(self, error: ConnectionLost) -> None:
        if self._lost is None:
            self._lost = error
        for future in (self._waiter, self._writable):
            if future is not None and not future.done():
                future.set_result(None)  # the waiting side finds self._lost and raises it


def _text(line: bytes) -> str:
    """The text of one reply line, after its code and separator."""
    return line[4:].strip(b" \t").decode("utf-8", "surrogateescape")


def _time_out(future: asyncio.Future[None], what: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(ReplyTimeout(f"{what} ({timeout:.3g} s)"))
