"""A person's answer to a ticket: planned in the outbox once, recorded on the ticket.

The studio's composer, an answer to the team notification by e-mail and `mailengine ticket
reply` all come here. The answer goes out like every other mail, through the outbox and the
dispatcher (DKIM-signed, retried, checked against suppressions when it goes): `From:` the
support address, to the ticket's address, `[T-n]` in the subject and In-Reply-To/References
of the customer's last message, so their mail program shows one conversation. It is service
mail (kind `transactional`): no List-Unsubscribe, and no Auto-Submitted, as a person wrote it.

Each answer carries a request key (the composer's form key, the received message's id, a
script's key): the outbox row and the entry are unique by it, so an answer sent twice (a
double click, a retried POST, a message processed again) goes once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.errors import MailengineError
from mailengine.inbound.autoresponder import jinja_literal, reply_subject, threading_headers
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.quoting import quote_message, strip_quoted
from mailengine.message_ids import make_message_id
from mailengine.store.desk import (
    Author,
    add_entry,
    entry_by_key,
    outbox_id_by_key,
    record_answer,
)
from mailengine.store.outbox import plan_sends
from mailengine.store.records import PlannedSend
from mailengine.store.tickets import TicketRow, add_to_thread, get_ticket, ticket_messages

WORKFLOW = "support"
TEMPLATE = "support/reply"
MAX_REPLY_CHARS = 50_000
_KEY = re.compile(r"^[a-z]{2,8}:[A-Za-z0-9_.:-]{1,80}$")


class ReplyRefused(MailengineError, ValueError):
    """An answer that cannot go: no such ticket, no text, too long, a malformed key."""


@dataclass(frozen=True)
class HumanReply:
    """`request_key` is `<source>:<key>`, e.g. `studio:Xy3…` or `email:42`."""

    ticket_id: int
    author: Author
    body: str
    request_key: str
    quote: bool = True
    close: bool = False


@dataclass(frozen=True)
class ReplyOutcome:
    """`planned` is False when this request was answered before (nothing sent again)."""

    ticket: TicketRow
    planned: bool
    message_id: str | None = None


@dataclass(frozen=True)
class LastMessage:
    """The customer's latest message: what an answer quotes and threads under."""

    text: str
    author: str
    received_at: datetime
    headers: list[list[str]]


def last_customer_message(session: Session, ticket_id: int) -> LastMessage | None:
    messages = [found for found in ticket_messages(session, ticket_id) if found.raw]
    if not messages:
        return None
    latest = messages[-1]
    parsed = parse_inbound(latest.raw)
    author = parsed.from_name or latest.from_address or "you"
    return LastMessage(
        strip_quoted(parsed.body_text), author, latest.received_at, threading_headers(parsed)
    )


def plan_human_reply(
    session: Session, settings: Settings, reply: HumanReply, now: datetime
) -> ReplyOutcome:
    """Plan the answer and record it on the ticket, which then waits for the customer
    (pending) or is closed; raises ReplyRefused (nothing planned) when it cannot go."""
    ticket = get_ticket(session, reply.ticket_id)
    if ticket is None:
        raise ReplyRefused(f"there is no ticket T-{reply.ticket_id}")
    body = _checked_body(reply)
    if entry_by_key(session, reply.request_key) is not None:
        return ReplyOutcome(ticket, planned=False)
    send = _planned_send(session, settings, ticket, reply, body)
    if plan_sends(session, [send], now) == 0:
        return ReplyOutcome(ticket, planned=False)
    outbox_id = outbox_id_by_key(session, send.idempotency_key)
    add_entry(
        session,
        ticket.id,
        "reply",
        reply.author,
        now,
        body=body,
        request_key=reply.request_key,
        outbox_id=outbox_id,
    )
    add_to_thread(session, ticket.id, [send.message_id])
    record_answer(session, ticket.id, now, close=reply.close)
    if reply.close and ticket.state != "closed":
        add_entry(session, ticket.id, "close", reply.author, now)
    current = get_ticket(session, ticket.id)
    assert current is not None
    return ReplyOutcome(current, planned=True, message_id=send.message_id)


def _checked_body(reply: HumanReply) -> str:
    body = reply.body.replace("\r\n", "\n").strip()
    if not body:
        raise ReplyRefused("the answer is empty: write something for the customer first")
    if len(body) > MAX_REPLY_CHARS:
        raise ReplyRefused(
            f"the answer is {len(body):,} characters long; {MAX_REPLY_CHARS:,} is the most"
        )
    if not _KEY.match(reply.request_key):
        raise ReplyRefused(
            f"the request key {reply.request_key[:100]!r} is malformed (from the studio: "
            "reload the page and send the answer again)"
        )
    return body


def _subject(ticket: TicketRow) -> str:
    if ticket.subject.strip():
        return reply_subject(ticket.reference, ticket.subject)
    return f"[{ticket.reference}] Re: your message to us"


def _planned_send(
    session: Session, settings: Settings, ticket: TicketRow, reply: HumanReply, body: str
) -> PlannedSend:
    last = last_customer_message(session, ticket.id)
    zone = settings.zone
    quote = ""
    if reply.quote and last is not None and last.text:
        quote = quote_message(last.text, last.author, last.received_at.astimezone(zone))
    support = settings.inbound.support_address
    payload: dict[str, Any] = {
        "ticket": {"reference": ticket.reference, "subject": ticket.subject},
        "reply": {"body": body, "quote": quote},
        "headers": last.headers if last is not None else [],
        "from_address": support,
        "reply_to": support,
    }
    return PlannedSend(
        idempotency_key=f"support:reply:{reply.request_key}",
        workflow=WORKFLOW,
        step="reply",
        customer_id=ticket.customer_id,
        recipient=ticket.address,
        template=TEMPLATE,
        subject=jinja_literal(_subject(ticket)),
        message_id=make_message_id(settings.sender.domain),
        kind="transactional",
        payload=payload,
    )
