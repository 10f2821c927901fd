"""Only a report that proves it is about our own mail suppresses: back at the send's signed
VERP address, or naming a Message-ID we sent to the very address it reports. Anything else
(a stranger's DSN or ARF report from `<>` to the support address) suppresses nobody and is
shown to the team, saying why it was not acted on."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.store.database import Database
from tests.engine.harness import EngineHarness
from tests.inbound_flow.conftest import (
    BEN,
    BEN_MESSAGE_ID,
    SECRET,
    arf_report,
    deliver,
    mail_ben,
    outbox_rows,
    received,
    suppression_of,
    text_of,
)
from tests.transport.conftest import SmtpServer

VICTIM = "victim@customer.example"


def _dsn(to: str, failed: Sequence[str], original_id: str, status: str = "5.1.1") -> bytes:
    """A standard multipart/report DSN saying each of `failed` does not exist."""
    records: list[str] = []
    for address in failed:
        records += [
            f"Final-Recipient: rfc822; {address}",
            "Action: failed",
            f"Status: {status}",
            f"Diagnostic-Code: smtp; 550 {status} <{address}>: Recipient address rejected: "
            "User unknown in virtual mailbox table",
            "",
        ]
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
        "I'm sorry to have to inform you that your message could not be delivered.",
        "",
        "--b1",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.customer.example",
        "",
        *records,
        "--b1",
        "Content-Type: text/rfc822-headers",
        "",
        "From: Example Shop <hello@shop.example>",
        f"To: {failed[0]}",
        "Subject: Thank you",
        f"Message-ID: {original_id}",
        "",
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode()


async def test_a_forged_dsn_and_arf_report_to_support_suppress_nobody_and_reach_the_team(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    await mail_ben(database, dispatcher, outgoing, VICTIM)
    forged = "<never-sent-by-the-shop@shop.example>"
    await deliver(listener.port, _dsn("support@shop.example", [VICTIM], forged), mail_from="")
    await deliver(listener.port, arf_report("support@shop.example", VICTIM, forged), mail_from="")
    results = await pipeline.drain()
    assert [r.classification for r in results] == ["bounce", "complaint"]
    assert [(r.acknowledged, r.team_notified, r.ticket_id) for r in results] == [
        (False, True, None),
        (False, True, None),
    ]
    assert suppression_of(database, VICTIM) is None
    assert suppression_of(database, BEN) is None
    assert [row["step"] for row in outbox_rows(database)] == ["1", "notify-team", "notify-team"]

    await dispatcher.drain()
    copies = received(outgoing, "team@shop.example")
    assert len(copies) == 2
    for copy, what in zip(copies, ("delivery report", "complaint report"), strict=True):
        assert copy["Subject"].startswith("[report not acted on] ")
        text = " ".join(text_of(copy).split())
        assert text.startswith("Report not acted on")
        assert (
            f"{what} not acted on for {VICTIM}: it did not come back to a signed bounce address"
            f" of ours, and Message-ID {forged} is not one we sent to that address"
        ) in text


async def test_a_report_naming_a_message_id_we_sent_to_that_address_suppresses(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    """Some servers bounce to From or Reply-To (support) instead of the envelope sender."""
    await mail_ben(database, dispatcher, outgoing, VICTIM)
    await deliver(listener.port, _dsn("support@shop.example", [BEN], BEN_MESSAGE_ID), mail_from="")
    [result] = await pipeline.drain()
    assert result.notes == ("hard bounce (userunknown)",)
    assert not result.team_notified
    assert suppression_of(database, BEN) == "hard-bounce"
    [send] = outbox_rows(database)
    assert send["state"] == "failed"


async def test_our_message_id_with_another_address_proves_nothing(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    await mail_ben(database, dispatcher, outgoing, VICTIM)
    report = _dsn("support@shop.example", [VICTIM], BEN_MESSAGE_ID)
    await deliver(listener.port, report, mail_from="")
    await deliver(
        listener.port, arf_report("support@shop.example", VICTIM, BEN_MESSAGE_ID), mail_from=""
    )
    results = await pipeline.drain()
    assert all(r.team_notified for r in results)
    assert "is not one we sent to that address" in results[0].notes[0]
    assert suppression_of(database, VICTIM) is None
    assert suppression_of(database, BEN) is None
    assert outbox_rows(database)[0]["state"] == "sent"


async def test_a_complaint_naming_our_message_to_the_complainer_suppresses(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    await mail_ben(database, dispatcher, outgoing, VICTIM)
    await deliver(
        listener.port, arf_report("support@shop.example", BEN, BEN_MESSAGE_ID), mail_from=""
    )
    [result] = await pipeline.drain()
    assert (result.classification, result.team_notified) == ("complaint", False)
    assert suppression_of(database, BEN) == "complaint"


async def test_at_the_verp_address_only_the_sends_recipient_is_suppressed(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    """A genuine bounce address proves the send, not every address the report lists."""
    verp = await mail_ben(database, dispatcher, outgoing, VICTIM)
    await deliver(listener.port, _dsn(verp, [VICTIM, BEN], "<other@elsewhere.example>"), to=[verp])
    [result] = await pipeline.drain()
    assert result.route == "bounce"
    assert suppression_of(database, BEN) == "hard-bounce"
    assert suppression_of(database, VICTIM) is None
    assert result.team_notified  # the part it could not act on is shown
    assert f"not acted on for {VICTIM}" in result.notes[-1]


async def test_a_workflow_message_id_cannot_be_computed_without_the_secret_key(
    database: Database,
    clock: FrozenClock,
    settings: Settings,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    """Workflow Message-IDs used to be sha256(idempotency key): workflow, step, customer id and
    occurrence, all guessable. A report naming that id proves nothing now; the id we sent does."""
    shop = EngineHarness(database, clock, settings, secret=SECRET)
    shop.customer(BEN, "Ben")
    shop.buy(BEN, "SO-7")
    await shop.tick()
    [envelope] = shop.transport.outbox
    [send] = outbox_rows(database)
    old_way = hashlib.sha256(send["idempotency_key"].encode()).hexdigest()[:32]
    guessed = f"<me.{old_way}@{settings.sender.domain}>"
    assert envelope.message_id == send["message_id"] != guessed

    await deliver(listener.port, _dsn("support@shop.example", [BEN], guessed), mail_from="")
    await deliver(listener.port, arf_report("support@shop.example", BEN, guessed), mail_from="")
    forged = await pipeline.drain()
    assert [(r.classification, r.team_notified) for r in forged] == [
        ("bounce", True),
        ("complaint", True),
    ]
    assert suppression_of(database, BEN) is None
    assert outbox_rows(database, id=send["id"])[0]["state"] == "sent"

    report = _dsn("support@shop.example", [BEN], envelope.message_id)
    await deliver(listener.port, report, mail_from="")
    [genuine] = await pipeline.drain()
    assert genuine.notes == ("hard bounce (userunknown)",)
    assert suppression_of(database, BEN) == "hard-bounce"
    assert outbox_rows(database, id=send["id"])[0]["state"] == "failed"
