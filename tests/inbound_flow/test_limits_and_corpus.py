"""Oversized and hostile mail is kept and marked, never answered; every automatic message of
the shared corpus goes through the whole pipeline without an answer being planned."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from mailengine.store.inbound_store import bounce_table, count_by_state
from tests.inbound.corpus import CORPUS
from tests.inbound_flow.conftest import (
    SMTP_LIMIT,
    deliver,
    inbound_rows,
    outbox_rows,
    question,
)

SISIMAI = CORPUS / "bounces" / "sisimai"
FLANKER = CORPUS / "bounces" / "flanker"


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
    assert outbox_rows(database) == []


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


def _automatic_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared mail corpus is not at {CORPUS.resolve()} (a fresh clone has none)")
    return [
        *sorted((SISIMAI / "maildir-bsd").glob("*.eml")),
        *sorted((FLANKER / "bounce").glob("*.eml")),
        *sorted((FLANKER / "complaints").glob("*.eml")),
    ]


async def test_no_bounce_complaint_or_auto_reply_of_the_corpus_is_answered(
    pipeline: InboundPipeline, database: Database
) -> None:
    files = _automatic_files()
    started = time.perf_counter()
    ids = {path.name: pipeline.store(path.read_bytes(), source="imap").id for path in files}
    results = await pipeline.drain()
    elapsed = time.perf_counter() - started
    print(f"\n{len(files)} corpus messages stored and acted on in {elapsed:.1f} s")
    assert len(files) == 640
    unique = len(set(ids.values()))  # some files of the corpus are byte for byte the same
    assert len(results) == unique
    assert not any(r.acknowledged or r.team_notified or r.ticket_id for r in results)
    assert outbox_rows(database) == []
    with database.session() as session:
        assert count_by_state(session) == {"processed": unique}
    _score_hard_bounces(database, ids)


def _score_hard_bounces(database: Database, ids: dict[str, int]) -> None:
    """Of the labelled bounces, which did the pipeline suppress (a hard row recorded)?"""
    with (SISIMAI / "labels_maildir-bsd.csv").open(newline="") as handle:
        labels = [
            row
            for row in csv.DictReader(handle)
            if row["category"] == "bounce(DSN/NDR)" and row["hardbounce_any"] in ("0", "1")
        ]
    b = bounce_table.c
    with database.session() as session:
        suppressed = {
            int(inbound_id)
            for (inbound_id,) in session.execute(
                select(b.inbound_message_id)
                .where(b.kind == "hard")
                .group_by(b.inbound_message_id)
                .having(func.count() > 0)
            )
        }
    hard = [row["file"] for row in labels if row["hardbounce_any"] == "1"]
    soft = [row["file"] for row in labels if row["hardbounce_any"] == "0"]
    caught = [name for name in hard if ids[name] in suppressed]
    wrongly = [name for name in soft if ids[name] in suppressed]
    print(f"hard bounces suppressed: {len(caught)}/{len(hard)}; soft ones suppressed: {wrongly}")
    assert len(caught) / len(hard) >= 0.95
    assert wrongly == []
