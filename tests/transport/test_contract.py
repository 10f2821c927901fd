"""One contract, every transport: SMTP (to a real server), Maildir files, memory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailengine.errors import DeliveryError
from mailengine.outbound.transport.base import (
    DeliveryStatus,
    Envelope,
    InvalidEnvelopeError,
    Transport,
)
from mailengine.outbound.transport.file import MaildirTransport
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server
from tests.transport.samples import sample_envelope

_TRACE = re.compile(
    rb"Return-Path: <(.*?)>\r\nX-Envelope-From: <.*?>\r\nX-Envelope-To: <(.*?)>\r\n"
)
Delivered = tuple[str, str, bytes]


@dataclass
class Subject:
    transport: Transport
    delivered: Callable[[], list[Delivered]]


def _maildir_messages(directory: Path) -> list[Delivered]:
    found = []
    for path in sorted((directory / "new").iterdir()):
        raw = path.read_bytes()
        trace = _TRACE.match(raw)
        assert trace is not None, raw[:200]
        found.append((trace[1].decode(), trace[2].decode(), raw[trace.end() :]))
    return found


@pytest.fixture(params=["smtp", "file", "memory"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    server: SmtpServer | None = None
    transport: Transport
    if request.param == "smtp":
        server = await start_server(RecordingHandler())
        options = SmtpOptions(
            port=server.port, connections=3, timeouts=SmtpTimeouts().capped(5), local_hostname="t"
        )
        transport = SmtpTransport(options)
        handler = server.handler

        def delivered() -> list[Delivered]:
            return [(m.mail_from, m.rcpt_tos[0], m.data) for m in handler.messages]

    elif request.param == "file":
        transport = MaildirTransport(tmp_path / "mail")

        def delivered() -> list[Delivered]:
            return _maildir_messages(tmp_path / "mail")

    else:
        memory = transport = MemoryTransport()

        def delivered() -> list[Delivered]:
            return [(e.mail_from, e.rcpt_to, e.data) for e in memory.outbox]

    yield Subject(transport, delivered)
    await transport.aclose()
    if server is not None:
        await server.close()


def _crlf(data: bytes) -> bytes:
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


async def test_a_message_arrives_byte_for_byte(subject: Subject) -> None:
    envelope = sample_envelope("jane@example.com", 1)
    result = await subject.transport.send(envelope)
    assert result.status is DeliveryStatus.SENT
    assert result.message_id == envelope.message_id == "<send-1@shop.example>"
    assert subject.delivered() == [
        ("bounces+1-0123456789ab@shop.example", "jane@example.com", envelope.data)
    ]
    assert subject.transport.stats.sent == 1


async def test_many_messages_each_arrive_once(subject: Subject) -> None:
    envelopes = [sample_envelope(f"customer{i}@example.com", i) for i in range(25)]
    results = await subject.transport.send_many(envelopes)
    assert [r.message_id for r in results] == [e.message_id for e in envelopes]
    assert all(r.status is DeliveryStatus.SENT for r in results)
    delivered = subject.delivered()
    assert sorted(rcpt for _, rcpt, _ in delivered) == sorted(e.rcpt_to for e in envelopes)
    by_rcpt = {rcpt: data for _, rcpt, data in delivered}
    assert all(by_rcpt[e.rcpt_to] == e.data for e in envelopes)


async def test_the_null_sender_is_allowed(subject: Subject) -> None:
    envelope = Envelope("", "jane@example.com", b"Subject: auto\r\n\r\nhello\r\n", "<a@b.example>")
    assert (await subject.transport.send(envelope)).status is DeliveryStatus.SENT
    assert subject.delivered()[0][:2] == ("", "jane@example.com")


async def test_plain_bytes_with_bare_newlines_and_leading_dots_arrive_intact(
    subject: Subject,
) -> None:
    data = b"Subject: dots\n\n.one\n..two\nthree.\n.\nend"
    envelope = Envelope("a@shop.example", "b@example.com", data, "<dots@shop.example>")
    assert (await subject.transport.send(envelope)).status is DeliveryStatus.SENT
    assert _crlf(subject.delivered()[0][2]).rstrip(b"\r\n") == _crlf(data)


@pytest.mark.parametrize(
    ("mail_from", "rcpt_to"),
    [
        ("a@shop.example", "b@example.com>\r\nRCPT TO:<c@example.com"),
        ("a@shop.example\r\nRSET", "b@example.com"),
        ("a@shop.example", "jörg@example.com"),
        ("a@shop.example", "nobody"),
        ("a@shop.example", ""),
    ],
)
async def test_addresses_that_would_corrupt_the_dialogue_are_refused(
    subject: Subject, mail_from: str, rcpt_to: str
) -> None:
    with pytest.raises(InvalidEnvelopeError):
        await subject.transport.send(Envelope(mail_from, rcpt_to, b"x\r\n", "<x@shop.example>"))
    assert subject.delivered() == []


async def test_a_closed_transport_refuses_to_send(subject: Subject) -> None:
    await subject.transport.aclose()
    with pytest.raises(DeliveryError, match="closed"):
        await subject.transport.send(sample_envelope("jane@example.com"))
