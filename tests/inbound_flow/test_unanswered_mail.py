"""Mail nobody answers still reaches the team, marked: a wrong guess about an auto-reply, a
list or an invalid message never loses a customer's words; only the acknowledgement waits.
A person who merely mentions an auto-reply is a person."""

from __future__ import annotations

from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.store.database import Database
from tests.inbound_flow.conftest import (
    add_customer_with_order,
    deliver,
    outbox_rows,
    question,
    received,
    send_replies,
    text_of,
)
from tests.transport.conftest import SmtpServer


async def test_a_customer_asking_about_an_auto_reply_gets_a_ticket_and_an_answer(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    add_customer_with_order(database)
    raw = question(
        subject="Question about your auto reply",
        body="Your automatic reply said you are closed. Will my order still ship?\n",
    )
    await deliver(listener.port, raw)
    [result] = await pipeline.drain()
    assert (result.classification, result.ticket_id) == ("human", 1)
    assert (result.acknowledged, result.team_notified) == (True, True)
    await send_replies(dispatcher)
    assert len(received(outgoing, "anna@customer.example")) == 1
    [copy] = received(outgoing, "team@shop.example")
    assert copy["Subject"].startswith("[T-1] ")


async def test_a_suspected_auto_reply_reaches_the_team_marked_without_ticket_or_answer(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    add_customer_with_order(database)
    raw = question(
        subject="Automatic reply: Where is my order?",
        body="I am away until Monday. Also: please send the shirt in size M instead.\n",
    )
    await deliver(listener.port, raw)
    [result] = await pipeline.drain()
    assert result.classification == "auto_reply"
    assert (result.acknowledged, result.ticket_id, result.team_notified) == (False, None, True)
    assert result.notes == ("not answered: auto_reply (auto_reply_subject)",)
    await send_replies(dispatcher)
    assert received(outgoing, "anna@customer.example") == []
    [copy] = received(outgoing, "team@shop.example")
    assert copy["Subject"] == (
        "[suspected auto-reply, not answered] anna@customer.example: "
        "Automatic reply: Where is my order?"
    )
    text = text_of(copy)
    assert text.startswith("Suspected auto-reply, not answered")
    assert "not answered: auto_reply (auto_reply_subject)" in text
    assert "please send the shirt in size M instead" in text
    assert "Order SO-1042" in text  # the customer's context, as for any message


async def test_list_mail_and_invalid_messages_reach_the_team_marked(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    newsletter = question(
        sender="news@brand.example",
        subject="Our autumn collection",
        message_id="<news-1@brand.example>",
        headers=[("List-Id", "<news.brand.example>"), ("Precedence", "bulk")],
    )
    await deliver(listener.port, newsletter, mail_from="bounce@brand.example")
    nameless = question(sender="Anna (no address)", message_id="<nameless@customer.example>")
    await deliver(listener.port, nameless)
    results = await pipeline.drain()
    assert [r.classification for r in results] == ["list_bulk", "invalid"]
    assert all(r.team_notified and not r.acknowledged and r.ticket_id is None for r in results)
    labels = [row["payload"]["support"]["notice"]["label"] for row in outbox_rows(database)]
    assert labels == ["list or bulk mail, not answered", "invalid message, not answered"]
    [_, invalid] = outbox_rows(database)
    assert invalid["subject"].startswith(
        "[invalid message, not answered] (no usable sender: Anna (no address)): "
    )


async def test_an_auto_reply_to_a_team_notification_is_not_shown_again(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    """The team's own out-of-office answering our copy must not start a loop."""
    await deliver(listener.port, question(subject="Automatic reply: hello"))
    await pipeline.drain()
    [copy] = outbox_rows(database)
    answer = question(
        sender="Tom Team <tom@team-members.example>",
        subject="Out of Office: [suspected auto-reply, not answered] hello",
        message_id="<ooo-tom@team-members.example>",
        headers=[("In-Reply-To", copy["message_id"]), ("Auto-Submitted", "auto-replied")],
    )
    await deliver(listener.port, answer, mail_from="tom@team-members.example")
    [result] = await pipeline.drain()
    assert not result.team_notified
    assert "answers a team notification: not shown (loop guard)" in result.notes[0]
    assert len(outbox_rows(database)) == 1


async def test_an_out_of_office_reply_known_only_by_its_words_is_not_acknowledged(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
) -> None:
    add_customer_with_order(database)
    away = question(
        subject="Re: Your order SO-1042 has shipped",
        message_id="<ooo-1@customer.example>",
        body="Vielen Dank für Ihre Nachricht. Ich bin bis zum 4. Dezember nicht im Büro.\n",
    )
    asking = question(
        sender="Bob <bob@elsewhere.example>",
        subject="Re: Your order SO-2001 has shipped",
        message_id="<bob-2@elsewhere.example>",
        body="I was away, where is my parcel?\n",
    )
    await deliver(listener.port, away)
    await deliver(listener.port, asking, mail_from="bob@elsewhere.example")
    absent, person = await pipeline.drain()
    assert (absent.classification, absent.acknowledged, absent.team_notified) == (
        "auto_reply",
        False,
        True,
    )
    assert absent.notes == ("not answered: auto_reply (absence_notice_text)",)
    assert (person.classification, person.acknowledged, person.team_notified) == (
        "human",
        True,
        True,
    )
    assert [row["recipient"] for row in outbox_rows(database, step="acknowledge")] == [
        "bob@elsewhere.example"
    ]
