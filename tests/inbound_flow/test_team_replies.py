"""Answering a ticket by replying to its team notification, over real SMTP: the listener takes
the team member's mail at the ticket's signed reply address, the answer (without the quoted
notification) goes to the customer in their thread, once; forged and unsigned addresses are
refused at RCPT, strangers' and automatic mail never reach the customer."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import aiosmtplib
import pytest

from mailengine.clock import FrozenClock
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound import Dispatcher
from mailengine.store.database import Database
from mailengine.store.desk import ticket_entries
from mailengine.store.tickets import get_ticket
from mailengine.store.users import add_user
from tests.conftest import NOW
from tests.inbound_flow.conftest import (
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

ANNA = "anna@customer.example"
TEAM = "team@shop.example"
SAM = "sam@shop.example"
MARKER = "## Write your answer above this line ##"
ANSWER = "Hello Anna,\n\nyour parcel left this morning; DHL has it now.\n\nSam"


def answer_to(notification: EmailMessage, *, sender: str = SAM, body: str = ANSWER) -> bytes:
    """What a mail program sends when a team member answers the notification: to its
    Reply-To, threaded under it, the notification quoted below the answer."""
    quoted = "\n".join(f"> {line}" for line in text_of(notification).splitlines())
    message = EmailMessage()
    message["From"] = f"Sam <{sender}>"
    message["To"] = notification["Reply-To"]
    message["Subject"] = f"Re: {notification['Subject']}"
    message["Message-ID"] = f"<answer-{sender}@mail.example>"
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    message.set_content(
        f"{body}\n\nOn Mon, 23 Nov 2026 at 10:00, Example Shop <hello@shop.example> wrote:\n"
        f"{quoted}\n"
    )
    return message.as_bytes(policy=default_policy.clone(linesep="\r\n"))


async def notified(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> EmailMessage:
    """Anna writes; the team gets its notification (returned), Anna her acknowledgement."""
    add_customer_with_order(database)
    with database.transaction() as session:
        add_user(session, SAM, "support", "not a password hash", NOW)
        add_user(session, "max@shop.example", "marketer", "not a password hash", NOW)
    await deliver(listener.port, question())
    await pipeline.drain()
    await send_replies(dispatcher)
    [notification] = received(outgoing, TEAM)
    return notification


async def test_a_team_member_answers_the_customer_by_replying_to_the_notification(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
    clock: FrozenClock,
) -> None:
    notification = await notified(database, listener, pipeline, dispatcher, outgoing)
    reply_to = notification["Reply-To"]
    assert reply_to.startswith("support+t-1.") and reply_to.endswith("@shop.example")
    assert text_of(notification).startswith(MARKER)
    assert "Answer T-1 by replying to this message." in text_of(notification)

    clock.advance(timedelta(minutes=40))
    raw = answer_to(notification)
    reply = await deliver(listener.port, raw, mail_from=SAM, to=[reply_to])
    assert reply.startswith("2.0.0 OK")
    await deliver(listener.port, raw, mail_from=SAM, to=[reply_to])  # delivered twice
    resent = raw.replace(b"Subject: Re:", b"Subject: RE:")  # the same answer, other bytes
    await deliver(listener.port, resent, mail_from=SAM, to=[reply_to])
    results = await pipeline.drain()
    assert [(r.route.value, r.state) for r in results] == [
        ("team_reply", "processed"),
        ("team_reply", "duplicate"),
    ]
    assert results[0].notes == (f"{SAM}'s answer relayed to the customer of T-1",)
    assert (await send_replies(dispatcher)).sent == 1

    [_, answer] = received(outgoing, ANNA)
    assert answer["From"] == "Example Shop <support@shop.example>"
    assert answer["Subject"] == "[T-1] Re: Where is my order?"
    assert answer["In-Reply-To"] == "<question-1@customer.example>"
    assert answer["List-Unsubscribe"] is None
    text = text_of(answer)
    assert text.startswith(ANSWER.replace("\n", "\r\n"))
    assert MARKER not in text and "a customer wrote to support" not in text
    assert "> Hello, my order has not arrived yet. Can you help?" in text
    [relayed] = outbox_rows(database, step="reply")
    assert relayed["idempotency_key"] == f"support:reply:email:{results[0].inbound_id}"
    with database.session() as session:
        ticket = get_ticket(session, 1)
        [entry] = ticket_entries(session, 1)
    assert ticket is not None and ticket.state == "pending"
    assert ticket.first_response_at == NOW + timedelta(minutes=40)
    assert (entry.kind, entry.via, entry.author, entry.body) == ("reply", "email", SAM, ANSWER)
    assert len(received(outgoing, TEAM)) == 1  # the answer itself is not shown to the team


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("support+t-1.0123456789abcdef@shop.example", "forged signature"),
        ("support+t-1@shop.example", "carries no signature"),
    ],
)
async def test_forged_and_unsigned_reply_addresses_are_refused_at_rcpt(
    database: Database, listener: InboundSmtpListener, address: str, said: str
) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(listener.port, question(sender=SAM), mail_from=SAM, to=[address])
    [(code, message)] = [(e.code, e.message) for e in refused.value.recipients]
    assert code == 550 and said in message
    assert inbound_rows(database) == []


async def test_strangers_are_refused_and_shown_to_the_team_automatic_mail_only_noted(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    notification = await notified(database, listener, pipeline, dispatcher, outgoing)
    reply_to = notification["Reply-To"]
    stranger = answer_to(notification, sender="mallory@elsewhere.example")
    marketer = answer_to(notification, sender="max@shop.example")
    away = EmailMessage()
    away["From"] = SAM
    away["To"] = reply_to
    away["Subject"] = "Out of office"
    away["Auto-Submitted"] = "auto-replied"
    away["Message-ID"] = "<away@mail.example>"
    away.set_content("I am away until Monday.")
    for raw, sender in ((stranger, "mallory@elsewhere.example"), (marketer, "max@shop.example")):
        await deliver(listener.port, raw, mail_from=sender, to=[reply_to])
    await deliver(listener.port, away.as_bytes(), mail_from=SAM, to=[reply_to])
    results = await pipeline.drain()
    assert [r.team_notified for r in results] == [True, True, False]
    assert "mallory@elsewhere.example is not the address of a studio account" in results[0].notes[0]
    assert "max@shop.example is not the address of a studio account" in results[1].notes[0]
    assert "automatic mail (auto_submitted" in results[2].notes[0]
    await send_replies(dispatcher)
    assert outbox_rows(database, step="reply") == []
    assert len(received(outgoing, ANNA)) == 1  # the acknowledgement only
    notices = received(outgoing, TEAM)[1:]
    assert [n["Subject"].split("]")[0] for n in notices] == ["[answer to T-1 refused"] * 2


async def test_an_answer_with_a_file_attached_is_refused_and_its_author_told(
    database: Database,
    listener: InboundSmtpListener,
    pipeline: InboundPipeline,
    dispatcher: Dispatcher,
    outgoing: SmtpServer,
) -> None:
    """Answers reach the customer as text: relaying one without its return label would drop
    the label unseen, so the answer is refused and the team told why; a signature's inline
    logo is no attachment and does not stop an answer."""
    notification = await notified(database, listener, pipeline, dispatcher, outgoing)
    reply_to = notification["Reply-To"]
    with_label = with_file(notification, "<label@mail.example>", "attachment", "return-label.pdf")
    with_logo = with_file(notification, "<logo@mail.example>", "inline", "logo.png")
    await deliver(listener.port, with_label, mail_from=SAM, to=[reply_to])
    [refused] = await pipeline.drain()
    assert refused.team_notified
    assert "the answer carries 'return-label.pdf'" in refused.notes[0]
    await send_replies(dispatcher)
    assert outbox_rows(database, step="reply") == []
    assert len(received(outgoing, ANNA)) == 1  # the acknowledgement only
    [notice] = received(outgoing, TEAM)[1:]
    assert notice["Subject"].startswith("[answer to T-1 refused")
    assert "return-label.pdf" in text_of(notice)

    await deliver(listener.port, with_logo, mail_from=SAM, to=[reply_to])
    await pipeline.drain()
    await send_replies(dispatcher)
    answer = received(outgoing, ANNA)[1]
    assert "your parcel left this morning" in text_of(answer)


def with_file(notification: EmailMessage, message_id: str, disposition: str, name: str) -> bytes:
    """The team member's answer with a file: attached, or inline as a signature's logo."""
    answer = message_from_bytes(answer_to(notification), policy=default_policy)
    assert isinstance(answer, EmailMessage)
    answer.replace_header("Message-ID", message_id)
    kind = ("application", "pdf") if name.endswith(".pdf") else ("image", "png")
    answer.add_attachment(
        b"file content", maintype=kind[0], subtype=kind[1], filename=name, disposition=disposition
    )
    return answer.as_bytes(policy=default_policy.clone(linesep="\r\n"))
