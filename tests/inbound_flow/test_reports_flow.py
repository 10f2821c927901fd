"""Bounces, complaints and mailto: unsubscribes arriving over SMTP act on the send they name
and are never answered."""

from __future__ import annotations

import aiosmtplib
import pytest
from sqlalchemy import select

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.store.customers import get_customer, upsert_customers
from mailengine.store.database import Database
from mailengine.store.inbound_store import bounce_counts
from mailengine.store.records import ConsentStatement, CustomerUpsert
from mailengine.store.suppressions import suppression_reason
from mailengine.store.web_models import TrackingEvent
from mailengine.tokens import make_token
from tests.conftest import NOW
from tests.inbound_flow.conftest import (
    BEN,
    BEN_MESSAGE_ID,
    SECRET,
    arf_report,
    deliver,
    inbound_rows,
    mail_ben,
    outbox_rows,
    suppression_of,
)
from tests.transport.conftest import SmtpServer


def _dsn(to: str, status: str, diagnostic: str, action: str = "failed") -> bytes:
    lines = [
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>",
        f"To: {to}",
        "Subject: Undelivered Mail Returned to Sender",
        "Date: Mon, 23 Nov 2026 09:05:00 +0000",
        "Message-ID: <dsn-1@mx.customer.example>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain",
        "",
        f"I'm sorry to have to inform you that your message could not be delivered to {BEN}.",
        "",
        "--b1",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.customer.example",
        "",
        f"Final-Recipient: rfc822; {BEN}",
        f"Action: {action}",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {diagnostic}",
        "",
        "--b1",
        "Content-Type: text/rfc822-headers",
        "",
        "From: Example Shop <hello@shop.example>",
        f"To: {BEN}",
        "Subject: Thank you",
        "Message-ID: <confirmation.ben@shop.example>",
        "",
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode()


async def test_a_hard_bounce_to_a_verp_address_suppresses_and_marks_the_send(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    verp = await mail_ben(database, dispatcher, outgoing)
    assert verp.startswith("bounces+")
    raw = _dsn(verp, "5.1.1", "550 5.1.1 <ben@customer.example>: Recipient address rejected")
    await deliver(listener.port, raw, mail_from="", to=[verp])
    [result] = await pipeline.drain()
    assert (result.route, result.classification) == ("bounce", "bounce")
    assert suppression_of(database, BEN) == "hard-bounce"
    [send] = outbox_rows(database)
    assert send["state"] == "failed"
    assert send["last_reply"].startswith("bounced: 5.1.1 550 5.1.1")
    with database.session() as session:
        assert bounce_counts(session, BEN) == {"hard": 1}
        kinds = session.execute(select(TrackingEvent.kind)).scalars().all()  # type: ignore[call-overload]
    assert list(kinds) == ["bounce"]
    assert len(outbox_rows(database)) == 1  # nothing was planned in answer


async def test_a_soft_bounce_is_counted_not_suppressed(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    verp = await mail_ben(database, dispatcher, outgoing)
    raw = _dsn(verp, "4.2.2", "452 4.2.2 Mailbox full, try again later")
    await deliver(listener.port, raw, mail_from="", to=[verp])
    await pipeline.drain()
    assert suppression_of(database, BEN) is None
    assert outbox_rows(database)[0]["state"] == "sent"
    with database.session() as session:
        assert bounce_counts(session, BEN) == {"soft": 1}


async def test_a_forged_bounce_address_and_strangers_are_refused(
    listener: InboundSmtpListener, database: Database
) -> None:
    for rcpt in ("bounces+1-000000000000@shop.example", "someone@shop.example"):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await deliver(listener.port, b"Subject: x\r\n\r\nx\r\n", to=[rcpt])
        assert refused.value.recipients[0].code == 550
    assert inbound_rows(database) == []


async def test_an_arf_complaint_suppresses(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    verp = await mail_ben(database, dispatcher, outgoing)
    report = arf_report(verp, BEN, BEN_MESSAGE_ID)
    await deliver(listener.port, report, mail_from="", to=[verp])
    [result] = await pipeline.drain()
    assert result.classification == "complaint"
    assert suppression_of(database, BEN) == "complaint"
    assert len(outbox_rows(database)) == 1


async def test_a_mailto_unsubscribe_withdraws_consent(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    clock: FrozenClock,
) -> None:
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email=BEN, consent=ConsentStatement("granted", "test", NOW))],
            NOW,
        )
    token = make_token(SECRET, "unsubscribe", address_hash(BEN), NOW)
    forged = make_token(b"another-secret-entirely-here", "unsubscribe", address_hash(BEN), NOW)
    for subject in (f"unsubscribe {forged}", f"unsubscribe {token}"):
        raw = f"From: {BEN}\r\nTo: bounces@shop.example\r\nSubject: {subject}\r\n\r\n\r\n"
        await deliver(listener.port, raw.encode(), mail_from=BEN, to=["bounces@shop.example"])
    results = await pipeline.drain()
    assert [r.notes for r in results] == [
        ("unsubscribe with a forged or altered token",),
        ("unsubscribed",),
    ]
    with database.session() as session:
        customer = get_customer(session, BEN)
        assert customer is not None and customer.consent_status == "withdrawn"
        assert suppression_reason(session, BEN) == "unsubscribe"
    assert outbox_rows(database) == []
