"""What the support desk's pages show, as plain data read in one go from the store: a ticket's
conversation (the customer's messages, people's replies and notes, changes) and the customer
beside it (profile, consent, latest orders with status and ship date, other tickets).

Times are in the shop's zone. Message bodies are the text the inbound parser reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.waiting_clock import TicketClock, ticket_clock
from mailengine.money import to_major
from mailengine.store.desk import DeskCustomer, EntryRow, desk_customer, other_tickets
from mailengine.store.desk import ticket_entries as load_entries
from mailengine.store.models import Order
from mailengine.store.orders import orders_of
from mailengine.store.tickets import TicketMessage, TicketRow, get_ticket, ticket_messages
from mailengine.store.users import list_users
from mailengine.studio.access import require_role

# Who may work tickets; every desk page declares it.
DESK = require_role("support", "admin")
ASSIGNABLE_ROLES = ("support", "admin")
INBOX_PATH = "/studio/tickets"
# What a change entry says, by kind.
_CHANGES = {"close": "closed the ticket", "reopen": "reopened the ticket"}
_DELIVERY = {
    "queued": "queued",
    "sending": "sending",
    "deferred": "delivery retried",
    "sent": "sent",
    "failed": "not delivered",
    "suppressed": "not sent",
}


def ticket_path(number: int) -> str:
    return f"{INBOX_PATH}/{number}"


@dataclass(frozen=True)
class ThreadItem:
    """One item of the conversation: `kind` is message (the customer's), reply, note,
    change, or acknowledgement (the automatic one)."""

    kind: str
    at: datetime
    who: str
    text: str
    subject: str = ""
    via: str = ""
    delivery: str = ""
    delivery_detail: str = ""


@dataclass(frozen=True)
class OrderView:
    external_id: str
    placed: date
    status: str
    amount: str
    items: str
    shipping: str


@dataclass(frozen=True)
class Assignable:
    id: int
    email: str


@dataclass(frozen=True)
class TicketPage:
    """Everything the ticket page shows."""

    ticket: TicketRow
    clock: TicketClock
    thread: list[ThreadItem]
    customer: DeskCustomer | None
    orders: list[OrderView]
    others: list[TicketRow]
    assignable: list[Assignable]
    last_message: TicketMessage | None

    @property
    def assignee(self) -> Assignable | None:
        return next((a for a in self.assignable if a.id == self.ticket.assignee_id), None)


def load_ticket_page(
    session: Session, ticket_id: int, zone: ZoneInfo, now: datetime
) -> TicketPage | None:
    ticket = get_ticket(session, ticket_id)
    if ticket is None:
        return None
    messages = ticket_messages(session, ticket_id)
    customer = desk_customer(session, ticket.customer_id) if ticket.customer_id else None
    orders = orders_of(session, ticket.customer_id, 5) if ticket.customer_id else []
    assignable = [
        Assignable(user.id, user.email)
        for user in list_users(session)
        if user.role in ASSIGNABLE_ROLES
    ]
    return TicketPage(
        ticket=ticket,
        clock=ticket_clock(ticket, now),
        thread=conversation(ticket, messages, load_entries(session, ticket_id), zone),
        customer=customer,
        orders=[order_view(order, zone) for order in orders],
        others=other_tickets(session, ticket),
        assignable=assignable,
        last_message=messages[-1] if messages else None,
    )


def conversation(
    ticket: TicketRow, messages: list[TicketMessage], entries: list[EntryRow], zone: ZoneInfo
) -> list[ThreadItem]:
    """The customer's messages, the acknowledgement and every entry, oldest first."""
    items = [message_item(message, zone) for message in messages]
    if ticket.acknowledged_at is not None:
        text = "Sent the automatic acknowledgement naming the ticket's reference."
        at = ticket.acknowledged_at.astimezone(zone)
        items.append(ThreadItem("acknowledgement", at, "", text))
    items.extend(entry_item(entry, zone) for entry in entries)
    return sorted(items, key=lambda item: item.at)


def message_item(message: TicketMessage, zone: ZoneInfo) -> ThreadItem:
    parsed = parse_inbound(message.raw) if message.raw else None
    text = parsed.body_text.strip() if parsed is not None else "(erased on the customer's request)"
    who = message.from_address or (parsed.from_header if parsed else "") or "(unknown sender)"
    name = parsed.from_name if parsed is not None else ""
    return ThreadItem(
        "message",
        message.received_at.astimezone(zone),
        f"{name} <{who}>" if name else who,
        text or "(no text)",
        subject=message.subject or (parsed.subject if parsed else ""),
    )


def entry_item(entry: EntryRow, zone: ZoneInfo) -> ThreadItem:
    at = entry.created_at.astimezone(zone)
    who = entry.author or "the command line"
    if entry.kind in ("reply", "note"):
        delivery = _DELIVERY.get(entry.delivery or "", "") if entry.kind == "reply" else ""
        return ThreadItem(
            entry.kind,
            at,
            who,
            entry.body,
            via=entry.via,
            delivery=delivery,
            delivery_detail=entry.delivery_reply or "",
        )
    if entry.kind == "assign":
        text = f"assigned the ticket to {entry.body}" if entry.body else "unassigned the ticket"
    else:
        text = _CHANGES.get(entry.kind, entry.kind)
    return ThreadItem("change", at, who, text, via=entry.via)


def order_view(order: Order, zone: ZoneInfo) -> OrderView:
    items = ", ".join(
        f"{item.get('quantity') or 1} × {item.get('name') or item.get('sku') or '?'}"
        for item in order.items
    )
    if order.shipped_at is not None:
        shipping = f"shipped {order.shipped_at.astimezone(zone):%Y-%m-%d}"
    elif order.expected_ship_date is not None:
        shipping = f"expected to ship {order.expected_ship_date:%Y-%m-%d}"
    else:
        shipping = "no ship date yet"
    return OrderView(
        external_id=order.external_id,
        placed=order.placed_at.astimezone(zone).date(),
        status=order.status,
        amount=f"{to_major(order.amount_minor, order.currency)} {order.currency}",
        items=items or "no items listed",
        shipping=shipping,
    )
