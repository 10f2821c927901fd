"""Replies as `SmtpWire` queues them: split across packets, several in one, multi-line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mailengine.outbound.transport.smtp_wire import ConnectionLost, Reply, SmtpWire


class Loopback(asyncio.Transport):
    """A transport that keeps what is written and closes when asked."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol


async def test_replies_come_whole_in_order_however_they_are_cut() -> None:
    wire = SmtpWire.take_over(Loopback())
    wire.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 3)
    wire.data_received(b"250 2.1.0 Ok\r\n250 2.1.5 O")
    wire.data_received(b"k\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    assert [await wire.reply(1) for _ in range(3)] == [
        Reply(250, "2.1.0 Ok"),
        Reply(250, "2.1.5 Ok"),
        Reply(354, "End data with <CR><LF>.<CR><LF>"),
    ]
    wire.send(b"EHLO x\r\n", 1)
    for part in (b"250-first\r", b"\n250-sec", b"ond\r\n", b"250 last\n"):
        wire.data_received(part)
    assert await wire.reply(1) == Reply(250, "first\nsecond\nlast")
    assert wire.usable


async def test_a_waiting_reader_is_woken_by_the_reply() -> None:
    wire = SmtpWire.take_over(Loopback())
    wire.send(b"RSET\r\n", 1)
    waiting = asyncio.ensure_future(wire.reply(1))
    await asyncio.sleep(0)
    wire.data_received(b"250 2.0.0 Ok\r\n")
    assert await waiting == Reply(250, "2.0.0 Ok")


async def test_a_reply_nobody_asked_for_makes_the_wire_unusable() -> None:
    wire = SmtpWire.take_over(Loopback())
    wire.data_received(b"421 4.4.2 idle timeout\r\n")
    assert not wire.usable


async def test_what_is_not_a_reply_breaks_the_connection() -> None:
    wire = SmtpWire.take_over(Loopback())
    wire.send(b"NOOP\r\n", 1)
    wire.data_received(b"hello there\r\n")
    with pytest.raises(ConnectionLost, match="not an SMTP reply"):
        await wire.reply(1)
