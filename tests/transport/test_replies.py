"""SMTP replies to sent / deferred / failed and hard bounces, with sisimai's labels as a check."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.replies import classify_reply, enhanced_status, is_hard_bounce
from tests.transport.samples import sample_envelope

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


@pytest.mark.parametrize(
    ("code", "text", "stage", "status", "hard"),
    [
        (250, "2.0.0 OK queued as 4F2A", "data-end", "sent", False),
        (421, "4.7.0 try again later, closing connection", "rcpt", "deferred", False),
        (450, "4.2.1 mailbox busy", "rcpt", "deferred", False),
        (451, "4.7.1 greylisted", "rcpt", "deferred", False),
        (452, "4.2.2 mailbox full", "rcpt", "deferred", False),
        (
            550,
            "5.1.1 <x@example.com>: Recipient address rejected: User unknown",
            "rcpt",
            "failed",
            True,
        ),
        (550, "5.1.2 bad destination system address", "rcpt", "failed", True),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", "rcpt", "failed", True),
        (
            550,
            "5.2.1 The email account that you tried to reach is disabled",
            "rcpt",
            "failed",
            True,
        ),
        (
            552,
            "5.2.2 The email account that you tried to reach is over quota",
            "rcpt",
            "failed",
            False,
        ),
        (552, "5.3.4 Message size exceeds fixed limit", "data-end", "failed", False),
        (552, "Message size exceeds maximum permitted", "data-end", "failed", False),
        (550, "5.7.1 Message rejected due to content restrictions", "data-end", "failed", False),
        (550, "5.7.26 unauthenticated email is not accepted (DMARC)", "data-end", "failed", False),
        (
            554,
            "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
            "rcpt",
            "failed",
            False,
        ),
        (553, "5.1.8 sender address domain not found", "rcpt", "failed", False),
        (550, "Requested action not taken: mailbox unavailable", "rcpt", "failed", True),
        (550, "No such user here", "rcpt", "failed", True),
        (550, "Access denied: your IP is listed", "rcpt", "failed", False),
        (550, "5.1.0 Address rejected", "data-end", "failed", False),
        (530, "5.7.0 Must issue a STARTTLS command first", "mail", "deferred", False),
        (535, "5.7.8 Authentication credentials invalid", "connect", "deferred", False),
        (550, "4.1.1 mismatched class", "rcpt", "failed", False),
        (
            550,
            "5.5.0 <x@example.com>: User unknown in virtual mailbox table",
            "rcpt",
            "failed",
            True,
        ),
        (550, "5.5.0 Requested action not taken: policy", "rcpt", "failed", False),
    ],
)
def test_reply_mapping(code: int, text: str, stage: str, status: str, hard: bool) -> None:
    result = classify_reply(code, text, stage=stage, message_id="<m@shop.example>")
    assert (result.status, result.hard_bounce) == (status, hard)
    assert result.smtp_code == code and result.reply == text and result.stage == stage


def test_the_enhanced_code_must_match_the_reply_class() -> None:
    assert enhanced_status(550, "5.1.1 no such user") == "5.1.1"
    assert enhanced_status(550, "4.1.1 no such user") is None
    assert enhanced_status(250, "2.0.0 Ok: queued") == "2.0.0"
    assert enhanced_status(550, "no code here 5.1.1") is None


async def test_the_memory_transport_answers_as_told() -> None:
    transport = MemoryTransport(replies={"Gone@Example.com": (550, "5.1.1 no such user")})
    gone = await transport.send(sample_envelope("gone@example.com", 1))
    kept = await transport.send(sample_envelope("jane@example.com", 2))
    assert (gone.status, gone.hard_bounce, kept.status) == ("failed", True, "sent")
    assert [e.rcpt_to for e in transport.outbox] == ["jane@example.com"]
    assert transport.rejected[0][1] is gone


def test_agreement_with_sisimai_on_real_bounces() -> None:
    """Hard or not, from the DSN status alone (as if refused at RCPT), against sisimai."""
    labels = CORPUS / "bounces" / "sisimai" / "labels_maildir-bsd.csv"
    if not labels.exists():
        pytest.skip(f"the shared corpus is not at {labels}")
    with labels.open(encoding="utf-8") as file:
        table = list(csv.DictReader(file))
    rows = [
        row
        for row in table
        if row["n_recipients"] == "1"
        and row["dsn_status"].startswith("5.")
        and int(row["dsn_status"].split(".")[2]) < 100  # sisimai's own codes are 5.0.9xx
        and row["dsn_status"] != "5.0.0"
    ]
    assert len(rows) > 250
    agree = sum(
        is_hard_bounce(550, row["dsn_status"], "", "rcpt") == (row["hardbounce_any"] == "1")
        for row in rows
    )
    # The rest (about 12 %) are sisimai reading the reply text ("5.5.0 ... user unknown",
    # "5.1.1 ... over quota"), which this table-only check cannot, and 5.2.1, which sisimai
    # often reads as a block and mailengine, by choice, as a disabled mailbox.
    assert agree / len(rows) > 0.85, agree / len(rows)
