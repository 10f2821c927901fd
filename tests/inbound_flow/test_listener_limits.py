"""Oversized and hostile mail is kept and marked, never answered, and shown to the team."""

from __future__ import annotations

import aiosmtplib
import pytest

from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from tests.inbound_flow.conftest import (
    SMTP_LIMIT,
    deliver,
    inbound_rows,
    outbox_rows,
    question,
)


async def test_a_message_over_the_smtp_size_limit_gets_552(
    listener: InboundSmtpListener, database: Database
) -> None:
    raw = question(body="x" * 70 + "\n") * (SMTP_LIMIT // 150)
    assert len(raw) > SMTP_LIMIT
    # A client that declares the size (SIZE=) is refused at MAIL FROM ...
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused_early:
        await deliver(listener.port, raw)
    assert refused_early.value.code == 552
    # ... one that does not is refused after the data.
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5) as client:
        await client.mail("anna@customer.example")
        await client.rcpt("support@shop.example")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(raw)
    assert refused.value.code == 552
    assert inbound_rows(database) == []


async def test_a_message_over_a_parsing_cap_is_kept_marked_and_not_answered(
    listener: InboundSmtpListener, pipeline: InboundPipeline, database: Database
) -> None:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\npart {index}\r\n" for index in range(250)
    )
    raw = (
        "From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\n"
        "Subject: many parts\r\nMessage-ID: <parts@customer.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'
    ).encode()
    assert len(raw) < SMTP_LIMIT
    await deliver(listener.port, raw)
    [result] = await pipeline.drain()
    assert (result.state, result.classification) == ("over_limit", "oversized")
    [row] = inbound_rows(database)
    assert bytes(row["raw"]) == raw
    assert row["error"] == "over limits: mime_parts"
    # Not answered, but the team sees it, marked: a customer's words are never dropped.
    [copy] = outbox_rows(database)
    assert (copy["step"], copy["recipient"]) == ("notify-team", "team@shop.example")
    assert copy["payload"]["support"]["notice"] == {
        "label": "over limits, not read",
        "reason": "over limits: mime_parts",
    }


async def test_international_addresses_are_accepted_with_smtputf8(
    listener: InboundSmtpListener, pipeline: InboundPipeline, database: Database
) -> None:
    raw = question(sender="Jürgen <jürgen@bücher.example>", subject="Größe?")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5) as client:
        assert client.supports_extension("smtputf8")
        await client.sendmail(
            "jürgen@bücher.example", ["support@shop.example"], raw, mail_options=["SMTPUTF8"]
        )
    [result] = await pipeline.drain()
    # Kept and classified; the strict address check finds no answerable sender.
    assert result.classification == "invalid"
    assert not result.acknowledged
