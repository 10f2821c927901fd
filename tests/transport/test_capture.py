"""The capture server: real SMTP in, one Maildir file per message out, envelope kept."""

from __future__ import annotations

import asyncio
import smtplib
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailengine.dev.capture import CaptureServer, ThreadedCaptureServer
from mailengine.errors import ConfigError
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from tests.transport.samples import sample_envelope


def _files(directory: Path) -> list[Path]:
    return sorted((directory / "new").iterdir())


async def test_messages_sent_over_smtp_land_in_the_maildir(tmp_path: Path) -> None:
    async with CaptureServer(tmp_path / "mail", port=0) as server:
        transport = SmtpTransport(
            SmtpOptions(port=server.port, connections=2, timeouts=SmtpTimeouts().capped(5))
        )
        envelopes = [sample_envelope(f"c{i}@example.com", i) for i in range(6)]
        results = await transport.send_many(envelopes)
        await transport.aclose()
        assert all(r.sent for r in results)
        assert server.received == 6
    files = _files(tmp_path / "mail")
    assert len(files) == 6 and all(f.suffix == ".eml" for f in files)
    assert list((tmp_path / "mail" / "tmp").iterdir()) == []
    by_rcpt = {}
    for path in files:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        by_rcpt[message["X-Envelope-To"]] = (message, path.read_bytes())
    for envelope in envelopes:
        message, raw = by_rcpt[f"<{envelope.rcpt_to}>"]
        assert message["Return-Path"] == f"<{envelope.mail_from}>"
        assert raw.endswith(envelope.data)  # the message itself, byte for byte
        assert message["Message-ID"] == envelope.message_id


def test_the_threaded_server_serves_blocking_clients(tmp_path: Path) -> None:
    with (
        ThreadedCaptureServer(tmp_path / "mail") as server,
        smtplib.SMTP("127.0.0.1", server.port, timeout=5) as client,
    ):
        client.sendmail("", ["a@example.com", "b@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
    (path,) = _files(tmp_path / "mail")
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["Return-Path"] == "<>"
    assert message["X-Envelope-To"] == "<a@example.com>, <b@example.com>"
    assert message.get_content() == "body\r\n"


async def test_only_loopback_and_a_free_port(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback only"):
        CaptureServer(tmp_path, host="0.0.0.0")
    async with CaptureServer(tmp_path, port=0) as first:
        taken = CaptureServer(tmp_path, port=first.port)
        with pytest.raises(ConfigError, match="cannot listen"):
            await taken.start()


def test_a_port_in_use_is_reported_to_the_blocking_caller(tmp_path: Path) -> None:
    with ThreadedCaptureServer(tmp_path) as first, pytest.raises(ConfigError, match="cannot"):
        ThreadedCaptureServer(tmp_path, port=first.port).start()


def _send_each(port: int, messages: list[bytes]) -> list[int]:
    """Send each message on one session; the reply code to each one's data."""
    outcomes = []
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo()
        for message in messages:
            client.mail("a@example.com")  # no SIZE: the limit is met in the data
            client.rcpt("b@example.com")
            outcomes.append(client.data(message)[0])
    return outcomes


async def test_dot_stuffing_is_undone_and_the_size_limit_holds(tmp_path: Path) -> None:
    """Lines starting with a dot (the first, a lone one, "..") come back as sent; a message
    over the size limit is refused, read to its end, and the session goes on."""
    tricky = b".first\r\n..\r\n.\r\nx.\r\n" + b"y" * 1500 + b"\r\n.end\r\n"
    messages = [tricky, b".\r\n", b"z" * 2500 + b"\r\n", b"after\r\n"]
    async with CaptureServer(tmp_path / "mail", max_message_bytes=2000) as server:
        outcomes = await asyncio.to_thread(_send_each, server.port, messages)
    assert outcomes == [250, 250, 552, 250]
    bodies = sorted(path.read_bytes().split(b">\r\n", 3)[3] for path in _files(tmp_path / "mail"))
    assert bodies == sorted([tricky, b".\r\n", b"after\r\n"])
