"""What support mail plans in the outbox: the customer's acknowledgement and the team's copy.

The team gets a copy of every message that is not a bounce or complaint we acted on: people's
mail with its ticket, and, marked with a notice saying why nobody answered or nothing was
done, suspected auto-replies, list mail, invalid or oversized messages and reports that do not
prove they concern our mail. So no customer's words are lost to a wrong guess. Nothing here
sends. The acknowledgement is an outbox row of kind `autoreply` that the
dispatcher renders and sends like any other (null return path, no List-Unsubscribe), with
the guards of RFC 3834 and Mailman's replybot before it: only a message the rule chain calls
human, only for a new ticket, at most once per sender per window, and once per stored message
(the idempotency key), however often that message is processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.quoting import REPLY_MARKER
from mailengine.inbound.tickets import TicketAssignment, bare_subject, thread_ids
from mailengine.message_ids import make_message_id
from mailengine.money import to_major
from mailengine.store.inbound_store import safe_text
from mailengine.store.models import Customer, Order
from mailengine.store.orders import orders_of
from mailengine.store.outbox import plan_sends
from mailengine.store.records import PlannedSend
from mailengine.store.tickets import (
    TicketRow,
    acknowledge_sender,
    add_to_thread,
    mark_acknowledged,
    open_tickets_of,
)

WORKFLOW = "support"
KNOWN_TEMPLATE = "support/autoreply"
UNKNOWN_TEMPLATE = "support/autoreply-unknown"
TEAM_TEMPLATE = "support/team-notification"
_MAX_SUBJECT = 200
_MAX_REFERENCES = 10
_MESSAGE_EXCERPT = 4_000


@dataclass(frozen=True)
class TeamNotice:
    """Why the team sees a message nobody answers: a short label for the subject, the reason."""

    label: str
    reason: str


@dataclass(frozen=True)
class SupportOutcome:
    """What support mail planned for one message."""

    acknowledged: bool
    team_notified: bool
    skipped_because: str | None = None


def jinja_literal(text: str) -> str:
    """Text that renders as itself in a subject template: every `{` is written as an
    expression, so a customer's `{{ 7*7 }}` or `{% raw %}` stays plain text."""
    return text.replace("{", "{{ '{' }}")


def reply_subject(reference: str, subject: str) -> str:
    """`[T-42] Re: <their subject>` as plain text (not yet a template)."""
    bare = bare_subject(safe_text(subject))[:_MAX_SUBJECT]
    return f"[{reference}] Re: {bare}" if bare else f"[{reference}] We have your message"


def reply_headers(msg: InboundMessage, support_address: str) -> list[list[str]]:
    """RFC 3834 and RFC 5322 headers of an automatic answer to `msg`."""
    automatic = [["Auto-Submitted", "auto-replied"], ["X-Loop", support_address]]
    return automatic + threading_headers(msg)


def threading_headers(msg: InboundMessage) -> list[list[str]]:
    """In-Reply-To and References of an answer to `msg` (RFC 5322 3.6.4), so the reader's
    mail program shows it in the conversation; none when `msg` has no usable Message-ID."""
    own_id = _header_safe_id(msg.message_id)
    if own_id is None:
        return []
    earlier = [i for i in map(_header_safe_id, thread_ids(msg)) if i and i != own_id]
    chain = [*earlier[-(_MAX_REFERENCES - 1) :], own_id]
    return [["In-Reply-To", own_id], ["References", " ".join(chain)]]


def answer_support_mail(
    session: Session,
    settings: Settings,
    *,
    inbound_id: int,
    msg: InboundMessage,
    sender: str,
    customer: Customer | None,
    assignment: TicketAssignment,
    may_answer: bool,
    now: datetime,
    reply_address: str | None = None,
) -> SupportOutcome:
    """Plan the team's copy of a human message and, when every guard allows, the answer.
    The team's copy names `reply_address` (the ticket's signed one) as where answers go."""
    ticket = assignment.ticket
    team_notified = _notify_team(
        session, settings, inbound_id, msg, sender, customer, ticket, now, None, reply_address
    )
    reason = _why_not_acknowledge(session, settings, assignment, sender, may_answer, now)
    if reason is not None:
        return SupportOutcome(False, team_notified, reason)
    payload: dict[str, Any] = {
        "ticket": {"reference": ticket.reference, "subject": ticket.subject},
        "headers": reply_headers(msg, settings.inbound.support_address),
    }
    latest = orders_of(session, customer.id, 1) if customer and customer.id is not None else []
    if latest:
        payload["order"] = latest[0].external_id  # the acknowledgement's `order`
    send = PlannedSend(
        idempotency_key=f"support:ack:{inbound_id}",
        workflow=WORKFLOW,
        step="acknowledge",
        customer_id=customer.id if customer is not None else None,
        recipient=sender,
        template=KNOWN_TEMPLATE if customer is not None else UNKNOWN_TEMPLATE,
        subject=jinja_literal(reply_subject(ticket.reference, msg.subject)),
        message_id=make_message_id(settings.sender.domain),
        kind="autoreply",
        payload=payload,
    )
    if plan_sends(session, [send], now) == 0:
        return SupportOutcome(False, team_notified, "acknowledged before")
    add_to_thread(session, ticket.id, [send.message_id])
    mark_acknowledged(session, ticket.id, now)
    return SupportOutcome(True, team_notified)


def _why_not_acknowledge(
    session: Session,
    settings: Settings,
    assignment: TicketAssignment,
    sender: str,
    may_answer: bool,
    now: datetime,
) -> str | None:
    if not may_answer:
        return "the rule chain forbids an answer"
    if not assignment.opened:
        return f"joined {assignment.ticket.reference} by {assignment.joined_by}"
    window = timedelta(hours=settings.inbound.acknowledge_window_hours)
    if not acknowledge_sender(session, sender, now, window):
        return "sender acknowledged within the window"
    return None


def show_to_team(
    session: Session,
    settings: Settings,
    *,
    inbound_id: int,
    msg: InboundMessage,
    sender: str | None,
    customer: Customer | None,
    notice: TeamNotice,
    now: datetime,
) -> bool:
    """Plan the team's copy of a message nobody answers, with no ticket, marked with `notice`."""
    return _notify_team(session, settings, inbound_id, msg, sender, customer, None, now, notice)


def _notify_team(
    session: Session,
    settings: Settings,
    inbound_id: int,
    msg: InboundMessage,
    sender: str | None,
    customer: Customer | None,
    ticket: TicketRow | None,
    now: datetime,
    notice: TeamNotice | None = None,
    reply_address: str | None = None,
) -> bool:
    bare = bare_subject(safe_text(msg.subject))[:_MAX_SUBJECT]
    author = sender or _unusable_sender(msg)
    tag = ticket.reference if ticket is not None else notice.label if notice else "support"
    subject = f"[{tag}] {author}: {bare}"
    context = support_context(session, msg, author, customer, ticket, now)
    if notice is not None:
        context["notice"] = {"label": notice.label, "reason": safe_text(notice.reason)}
    if ticket is not None:
        context |= _answer_by_mail(settings, ticket, reply_address)
    send = PlannedSend(
        idempotency_key=f"support:team:{inbound_id}",
        workflow=WORKFLOW,
        step="notify-team",
        customer_id=None,
        recipient=settings.inbound.team_address,
        template=TEAM_TEMPLATE,
        subject=jinja_literal(subject.strip()),
        message_id=make_message_id(settings.sender.domain),
        kind="transactional",
        payload={
            "ticket": (
                {"reference": ticket.reference, "subject": ticket.subject} if ticket else None
            ),
            "support": context,
            "headers": [
                ["Auto-Submitted", "auto-generated"],
                ["X-Loop", settings.inbound.support_address],
            ],
        }
        | ({"reply_to": reply_address} if reply_address else {}),
    )
    if plan_sends(session, [send], now) == 0:
        return False
    if ticket is not None:
        add_to_thread(session, ticket.id, [send.message_id])
    return True


def _answer_by_mail(
    settings: Settings, ticket: TicketRow, reply_address: str | None
) -> dict[str, Any]:
    """How the team answers from the notification: the studio's page of the ticket, and,
    with a signed reply address, answering the notification itself (above the marker)."""
    public_url = settings.http.public_url.rstrip("/")
    return {
        "studio_url": f"{public_url}/studio/tickets/{ticket.id}",
        "reply_address": reply_address,
        "reply_from": settings.inbound.support_address,
        "reply_marker": REPLY_MARKER if reply_address else None,
    }


def _unusable_sender(msg: InboundMessage) -> str:
    shown = " ".join(safe_text(msg.from_header).split())[:100]
    return f"(no usable sender: {shown})" if shown else "(no sender)"


def support_context(
    session: Session,
    msg: InboundMessage,
    sender: str,
    customer: Customer | None,
    ticket: TicketRow | None,
    now: datetime,
) -> dict[str, Any]:
    """The plain, JSON-safe context the team sees: who wrote, what, their orders and tickets."""
    others = [
        {"reference": other.reference, "subject": other.subject, "opened": _day(other.opened_at)}
        for other in open_tickets_of(session, customer.id if customer else None, sender)
        if ticket is None or other.id != ticket.id
    ]
    context: dict[str, Any] = {
        "ticket_number": ticket.id if ticket is not None else None,
        "notice": None,
        "author": {"address": sender, "name": safe_text(msg.from_name)},
        "received": now.isoformat(timespec="seconds"),
        "subject": safe_text(msg.subject)[:_MAX_SUBJECT],
        "message": safe_text(msg.body_text[:_MESSAGE_EXCERPT]),
        "message_truncated": msg.body_truncated or len(msg.body_text) > _MESSAGE_EXCERPT,
        "customer": None,
        "orders": [],
        "open_tickets": others,
    }
    if customer is not None and customer.id is not None:
        name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
        context["customer"] = {
            "id": customer.id,
            "name": name,
            "email": customer.email,
            "orders_count": customer.orders_count,
            "consent": customer.consent_status,
        }
        context["orders"] = [_order(order) for order in orders_of(session, customer.id, 5)]
    return context


def _order(order: Order) -> dict[str, Any]:
    items = ", ".join(
        f"{item.get('quantity') or 1} × {item.get('name') or item.get('sku') or '?'}"
        + (f" ({item['size']})" if item.get("size") else "")
        for item in order.items
    )
    return {
        "external_id": order.external_id,
        "status": order.status,
        "channel": order.channel,
        "placed": _day(order.placed_at),
        "amount": _money(order.amount_minor, order.currency),
        "items": items,
        "expected_ship_date": (
            order.expected_ship_date.isoformat() if order.expected_ship_date else None
        ),
        "shipped": _day(order.shipped_at) if order.shipped_at else None,
    }


def _money(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency)} {currency}"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _header_safe_id(message_id: str | None) -> str | None:
    """A Message-ID we may copy into a header: ASCII, no spaces, not absurdly long."""
    if not message_id or len(message_id) > 250 or not message_id.isascii():
        return None
    if any(char.isspace() or not char.isprintable() for char in message_id):
        return None
    return message_id
