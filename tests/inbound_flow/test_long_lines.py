"""Lines longer than RFC 5321's 1,000 octets are taken (real bounces carry them); only the
message size limit bounds a line."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import pytest

from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from tests.inbound.corpus import SISIMAI, corpus_or_skip
from tests.inbound_flow.conftest import SMTP_LIMIT, deliver, inbound_rows, question


def _crlf(raw: bytes) -> bytes:
    """The bytes as they travel over SMTP: every line ending CRLF, as the client sends them."""
    return b"\r\n".join(raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"))


def _longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.replace(b"\r\n", b"\n").split(b"\n"))


async def test_a_message_with_long_lines_is_stored_whole_and_acted_on(
    listener: InboundSmtpListener, pipeline: InboundPipeline, database: Database
) -> None:
    long_word = "x" * 5_000
    longer = "y" * 60_000
    raw = question(body=f"Hello,\n{long_word}\nand\n{longer}\nThanks\n", subject="Long lines")
    raw = raw.replace(b"Content-Transfer-Encoding: quoted-printable", b"").replace(b"=\r\n", b"")
    assert _longest_line(raw) >= 60_000
    reply = await deliver(listener.port, raw)
    assert reply.startswith("2.0.0 OK")
    [row] = inbound_rows(database)
    assert bytes(row["raw"]) == raw
    [result] = await pipeline.drain()
    assert result.classification == "human"


async def test_a_line_longer_than_the_size_limit_is_refused_and_nothing_is_stored(
    listener: InboundSmtpListener, database: Database
) -> None:
    raw = b"From: anna@customer.example\r\nSubject: huge\r\n\r\n" + b"z" * (SMTP_LIMIT + 10)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5) as client:
        await client.mail("anna@customer.example")
        await client.rcpt("support@shop.example")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(raw)
        assert refused.value.code in (500, 552)
        # The session goes on: the next message is taken.
        await client.mail("anna@customer.example")
        await client.rcpt("support@shop.example")
        code, _ = await client.data(question())
    assert code == 250
    assert len(inbound_rows(database)) == 1


def _corpus_with_long_lines() -> list[Path]:
    corpus_or_skip()
    return [
        path
        for path in sorted((SISIMAI / "maildir-bsd").glob("*.eml"))
        if _longest_line(path.read_bytes()) > 998
    ]


async def test_the_corpus_bounces_with_long_lines_arrive_and_are_read_as_bounces(
    listener: InboundSmtpListener, pipeline: InboundPipeline, database: Database
) -> None:
    files = _corpus_with_long_lines()
    print(f"\n{len(files)} corpus messages with lines over 998 octets: {[p.name for p in files]}")
    assert len(files) == 9
    assert {path.name.split("-")[1] for path in files} == {"amazonses", "gmx"}
    for path in files:
        reply = await deliver(listener.port, path.read_bytes(), mail_from="")
        assert reply.startswith("2.0.0 OK"), path.name
    rows = inbound_rows(database)
    assert [bytes(row["raw"]) for row in rows] == [_crlf(path.read_bytes()) for path in files]
    results = await pipeline.drain()
    kinds = {
        path.name: result.classification.value for path, result in zip(files, results, strict=True)
    }
    print(kinds)
    # Amazon SES's JSON notices come from no-reply@ and read as automatic mail; none is answered.
    assert all(kinds[path.name] == "bounce" for path in files if "gmx" in path.name)
    assert set(kinds.values()) <= {"bounce", "auto_reply"}
    assert not any(result.acknowledged for result in results)
