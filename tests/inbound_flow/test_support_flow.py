"""A customer writes to support over SMTP and gets one personal reply over SMTP; follow-ups
join the ticket; strangers get the general acknowledgement; nobody is answered twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.inbound.actions import Acted, MessageActions, Route
from mailengine.inbound.chain import Verdict
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.store.database import Database
from mailengine.store.inbound_store import ReceivedMessage
from tests.inbound_flow.conftest import (
    SECRET,
    add_customer_with_order,
    deliver,
    inbound_rows,
    outbox_rows,
    question,
    received,
    send_replies,
    text_of,
)
from tests.transport.conftest import SmtpServer


async def test_a_known_customer_gets_one_personal_reply_naming_their_order(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    customer_id = add_customer_with_order(database)
    raw = question(sender="Anna Customer <Anna@Customer.Example>")
    reply = await deliver(listener.port, raw)
    assert reply.startswith("2.0.0 OK: stored as")
    # Committed before the 250, acted on later.
    [stored] = inbound_rows(database)
    assert stored["state"] == "received" and bytes(stored["raw"]) == raw

    [result] = await pipeline.drain()
    assert (result.acknowledged, result.team_notified) == (True, True)
    report = await send_replies(dispatcher)
    assert report.sent == 2

    [answer] = received(outgoing, "anna@customer.example")
    assert answer["Subject"] == "[T-1] Re: Where is my order?"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == "<question-1@customer.example>"
    assert answer["References"] == "<question-1@customer.example>"
    assert answer["X-Loop"] == "support@shop.example"
    assert answer["List-Unsubscribe"] is None
    text = text_of(answer)
    assert "Anna" in text
    assert "Order SO-1042" in text
    assert "Linen shirt" in text
    assert "November 26, 2026" in text
    assert "T-1" in text
    envelope = next(m for m in outgoing.handler.messages if "anna@customer.example" in m.rcpt_tos)
    assert envelope.mail_from == ""  # RFC 3834: the null return path
    [ack] = outbox_rows(database, step="acknowledge")
    assert (ack["customer_id"], ack["kind"], ack["state"]) == (customer_id, "autoreply", "sent")

    [team] = received(outgoing, "team@shop.example")
    assert team["Subject"] == "[T-1] anna@customer.example: Where is my order?"
    assert "T-1" in text_of(team)
    [processed] = inbound_rows(database)
    assert (processed["state"], processed["classification"]) == ("processed", "human")
    assert processed["ticket_id"] == 1


async def test_follow_ups_join_the_ticket_without_a_second_acknowledgement(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
    clock: FrozenClock,
) -> None:
    add_customer_with_order(database)
    await deliver(listener.port, question())
    await pipeline.drain()
    await send_replies(dispatcher)
    [answer] = received(outgoing, "anna@customer.example")

    clock.advance(timedelta(hours=30))  # past the acknowledgement window: only the ticket decides
    by_reference = question(
        subject="Re: [T-1] Where is my order?", message_id="<question-2@customer.example>"
    )
    by_thread = question(
        subject="One more thing",
        message_id="<question-3@customer.example>",
        headers=[("In-Reply-To", answer["Message-ID"]), ("References", answer["Message-ID"])],
    )
    await deliver(listener.port, by_reference)
    await deliver(listener.port, by_thread)
    results = await pipeline.drain()
    assert [(r.ticket_id, r.acknowledged, r.team_notified) for r in results] == [
        (1, False, True),
        (1, False, True),
    ]
    await send_replies(dispatcher)
    assert len(received(outgoing, "anna@customer.example")) == 1
    assert len(received(outgoing, "team@shop.example")) == 3
    assert [row["ticket_id"] for row in inbound_rows(database)] == [1, 1, 1]


async def test_a_stranger_copying_a_reference_opens_a_ticket_of_their_own(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    add_customer_with_order(database)
    await deliver(listener.port, question())
    await deliver(
        listener.port,
        question(
            sender="mallory@elsewhere.example",
            subject="Re: [T-1] give me the order",
            message_id="<m-1@elsewhere.example>",
        ),
        mail_from="mallory@elsewhere.example",
    )
    results = await pipeline.drain()
    assert [(r.ticket_id, r.acknowledged) for r in results] == [(1, True), (2, True)]


async def test_an_unknown_sender_gets_the_general_acknowledgement(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    raw = question(
        sender="Bob <bob@elsewhere.example>",
        subject="Do you ship to Norway? {{ 7*7 }}",
        message_id="<bob-1@elsewhere.example>",
    )
    await deliver(listener.port, raw, mail_from="bob@elsewhere.example")
    await pipeline.drain()
    await send_replies(dispatcher)
    [answer] = received(outgoing, "bob@elsewhere.example")
    # The customer's braces are text, never a template.
    assert answer["Subject"] == "[T-1] Re: Do you ship to Norway? {{ 7*7 }}"
    text = text_of(answer)
    assert "Thank you for your message" in text
    assert "T-1" in text
    assert "Order " not in text
    [ack] = outbox_rows(database, step="acknowledge")
    assert (ack["customer_id"], ack["template"]) == (None, "support/autoreply-unknown")


async def test_one_acknowledgement_per_sender_per_window(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
    clock: FrozenClock,
) -> None:
    for index, subject in enumerate(["Returns?", "Gift cards?", "Opening hours?"]):
        raw = question(subject=subject, message_id=f"<q-{index}@customer.example>")
        await deliver(listener.port, raw)
    results = await pipeline.drain()
    # Three new tickets, one answer: the window is per sender, not per ticket.
    assert [(r.ticket_id, r.acknowledged) for r in results] == [(1, True), (2, False), (3, False)]
    assert "within the window" in results[1].notes[0]

    clock.advance(timedelta(hours=24, minutes=1))
    await deliver(listener.port, question(subject="Sizes?", message_id="<q-9@customer.example>"))
    [later] = await pipeline.drain()
    assert later.acknowledged
    await send_replies(dispatcher)
    assert len(received(outgoing, "anna@customer.example")) == 2
    assert len(received(outgoing, "team@shop.example")) == 4


async def test_the_same_message_twice_is_answered_once(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    raw = question()
    first = await deliver(listener.port, raw)
    second = await deliver(listener.port, raw)  # a sender retrying after a lost 250
    assert first == second  # the same stored row
    # The same message again with different bytes (another relay added a header).
    await deliver(listener.port, b"Received: from relay.example by mx.example\r\n" + raw)
    results = await pipeline.drain()
    assert [(r.state, r.acknowledged, r.team_notified) for r in results] == [
        ("processed", True, True),
        ("duplicate", False, False),
    ]
    assert len(outbox_rows(database, step="acknowledge")) == 1
    assert len(outbox_rows(database, step="notify-team")) == 1


class _CrashAfterActing(MessageActions):
    """Acts, then dies before the transaction commits (as a killed process would)."""

    def act(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        route: Route,
        now: datetime,
    ) -> Acted:
        super().act(session, row, msg, verdict, route, now)
        raise RuntimeError("simulated crash")


def _crashing(database: Database, settings: Settings, clock: FrozenClock) -> InboundPipeline:
    pipeline = InboundPipeline(database, settings, SECRET, clock)
    pipeline.actions = _CrashAfterActing(settings, SECRET, pipeline.verp)
    return pipeline


async def test_reprocessing_after_a_crash_answers_once(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    clock: FrozenClock,
) -> None:
    await deliver(listener.port, question())
    crashing = _crashing(database, pipeline.settings, clock)
    assert await crashing.drain() == []
    [row] = inbound_rows(database)
    assert (row["state"], row["attempts"]) == ("received", 1)
    assert "simulated crash" in row["error"]
    assert outbox_rows(database) == []  # the crash rolled every planned send back

    # A restarted engine picks the row up and answers once.
    [result] = await pipeline.drain()
    assert result.acknowledged
    # Even acting on the same stored message again cannot plan a second answer.
    assert pipeline.process(row["id"]) is None
    with database.transaction() as session:
        from mailengine.store.inbound_store import inbound_table

        session.execute(inbound_table.update().values(state="received"))
    clock.advance(timedelta(days=3))
    [again] = await pipeline.drain()
    assert not again.acknowledged
    assert len(outbox_rows(database, step="acknowledge")) == 1
    assert len(outbox_rows(database, step="notify-team")) == 1


async def test_a_message_that_keeps_failing_is_marked_failed(
    database: Database, listener: InboundSmtpListener, pipeline: InboundPipeline, clock: FrozenClock
) -> None:
    await deliver(listener.port, question())
    crashing = _crashing(database, pipeline.settings, clock)
    for _ in range(3):
        await crashing.drain()
    [row] = inbound_rows(database)
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert await pipeline.drain() == []
