"""Queries of support tickets: tickets, their threads of Message-IDs, acknowledgements, holds.

A Message-ID joins a thread once, and an acknowledgement is granted by a compare-and-set on the
sender's row, so two workers can never both acknowledge one sender inside the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.customers import customer_table
from mailengine.store.inbound_models import ticket_reference
from mailengine.store.inbound_store import (
    inbound_table,
    insert_for,
    safe_text,
    sender_table,
    thread_table,
    ticket_table,
    usable_message_id,
)

# Marketing to a customer with an open ticket waits this long, then asks again.
HOLD_STEP = timedelta(days=1)
# An open ticket nobody wrote to for this long no longer holds marketing back.
STALE_TICKET = timedelta(days=14)


@dataclass(frozen=True)
class TicketRow:
    id: int
    customer_id: int | None
    address: str
    subject: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    last_message_at: datetime
    acknowledged_at: datetime | None
    messages: int = 0
    assignee_id: int | None = None
    awaiting_since: datetime | None = None
    first_response_at: datetime | None = None

    @property
    def reference(self) -> str:
        return ticket_reference(self.id)


@dataclass(frozen=True)
class TicketMessage:
    """One message of a ticket, for `ticket show`."""

    id: int
    received_at: datetime
    from_address: str | None
    subject: str | None
    classification: str | None
    raw: bytes


@dataclass(frozen=True)
class CustomerSummary:
    """Who a ticket's customer is, for people reading the ticket."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    orders_count: int

    @property
    def label(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return f"{name} <{self.email}>" if name else self.email


# Tickets


def open_ticket(
    session: Session, customer_id: int | None, address: str, subject: str, now: datetime
) -> TicketRow:
    new_id = session.execute(
        insert(ticket_table)
        .values(
            customer_id=customer_id,
            address=safe_text(address)[:320],
            subject=safe_text(subject)[:1000],
            state="open",
            opened_at=now,
            last_message_at=now,
            awaiting_since=now,
        )
        .returning(ticket_table.c.id)
    ).scalar_one()
    found = get_ticket(session, int(new_id))
    assert found is not None
    return found


def get_ticket(session: Session, ticket_id: int) -> TicketRow | None:
    rows = tickets_where(session, ticket_table.c.id == ticket_id, limit=1)
    return rows[0] if rows else None


def tickets_by_id(session: Session, ticket_ids: Sequence[int]) -> dict[int, TicketRow]:
    if not ticket_ids:
        return {}
    rows = tickets_where(session, ticket_table.c.id.in_(ticket_ids), limit=len(ticket_ids))
    return {row.id: row for row in rows}


def list_tickets(session: Session, *, open_only: bool, limit: int = 100) -> list[TicketRow]:
    """Tickets with the most recent message first; `open_only`: those not closed."""
    condition = ticket_table.c.state != "closed" if open_only else None
    return tickets_where(session, condition, limit=limit)


def open_tickets_of(
    session: Session, customer_id: int | None, address: str, limit: int = 10
) -> list[TicketRow]:
    """The tickets not closed of a customer, or of an address when the sender is no
    customer."""
    t = ticket_table.c
    who = t.address == address if customer_id is None else t.customer_id == customer_id
    return tickets_where(session, and_(who, t.state != "closed"), limit=limit)


def tickets_where(session: Session, condition: object, limit: int) -> list[TicketRow]:
    """Tickets meeting `condition` (an expression over `ticket_table`), the most recently
    active first."""
    t, i = ticket_table.c, inbound_table.c
    messages = (
        select(func.count()).where(i.ticket_id == t.id).correlate(ticket_table).scalar_subquery()
    )
    statement = select(
        t.id,
        t.customer_id,
        t.address,
        t.subject,
        t.state,
        t.opened_at,
        t.closed_at,
        t.last_message_at,
        t.acknowledged_at,
        messages.label("messages"),
        t.assignee_id,
        t.awaiting_since,
        t.first_response_at,
    )
    if condition is not None:
        statement = statement.where(condition)  # type: ignore[arg-type]
    statement = statement.order_by(t.last_message_at.desc(), t.id.desc()).limit(limit)
    return [TicketRow(**row._mapping) for row in session.execute(statement)]


def touch_ticket(session: Session, ticket_id: int, now: datetime) -> bool:
    """A new message from the customer: the ticket waits for us again (open, its waiting
    clock running from the oldest message nobody answered); True if it had been closed."""
    t = ticket_table.c
    reopened = session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.state == "closed")
        .values(state="open", closed_at=None)
    )
    session.execute(
        update(ticket_table).where(t.id == ticket_id, t.state == "pending").values(state="open")
    )
    session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.awaiting_since.is_(None))
        .values(awaiting_since=now)
    )
    session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.last_message_at < now)
        .values(last_message_at=now)
    )
    return int(reopened.rowcount) == 1  # type: ignore[attr-defined]


def customer_summary(session: Session, customer_id: int) -> CustomerSummary | None:
    c = customer_table.c
    row = session.execute(
        select(c.id, c.email, c.first_name, c.last_name, c.orders_count).where(c.id == customer_id)
    ).first()
    return CustomerSummary(**row._mapping) if row is not None else None


def mark_acknowledged(session: Session, ticket_id: int, now: datetime) -> None:
    session.execute(
        update(ticket_table).where(ticket_table.c.id == ticket_id).values(acknowledged_at=now)
    )


def close_ticket(session: Session, ticket_id: int, now: datetime) -> bool:
    """Close a ticket that is open or pending; False when there is no such ticket. Marketing
    held back for it goes on."""
    t = ticket_table.c
    result = session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.state != "closed")
        .values(state="closed", closed_at=now, awaiting_since=None)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def ticket_messages(session: Session, ticket_id: int) -> list[TicketMessage]:
    i = inbound_table.c
    statement = (
        select(i.id, i.received_at, i.from_address, i.subject, i.classification, i.raw)
        .where(i.ticket_id == ticket_id)
        .order_by(i.received_at, i.id)
    )
    return [
        TicketMessage(
            id=row.id,
            received_at=row.received_at,
            from_address=row.from_address,
            subject=row.subject,
            classification=row.classification,
            raw=bytes(row.raw),
        )
        for row in session.execute(statement)
    ]


def add_to_thread(session: Session, ticket_id: int, message_ids: Iterable[str | None]) -> None:
    """Remember Message-IDs as part of a ticket's conversation (each id once)."""
    rows = [
        {"message_id": usable, "ticket_id": ticket_id}
        for usable in dict.fromkeys(usable_message_id(value) for value in message_ids)
        if usable is not None
    ]
    if rows:
        session.execute(
            insert_for(session)(thread_table).on_conflict_do_nothing(index_elements=["message_id"]),
            rows,
        )


def ticket_of_thread(session: Session, message_ids: Sequence[str]) -> int | None:
    """The ticket one of these Message-IDs belongs to (the most recently referenced wins)."""
    wanted = [usable for usable in map(usable_message_id, message_ids) if usable is not None]
    if not wanted:
        return None
    h = thread_table.c
    found = {
        message_id: ticket_id
        for message_id, ticket_id in session.execute(
            select(h.message_id, h.ticket_id).where(h.message_id.in_(wanted))
        )
    }
    for message_id in reversed(wanted):
        if message_id in found:
            return int(found[message_id])
    return None


def open_ticket_hold(
    session: Session, customer_id: int, now: datetime
) -> tuple[datetime, str] | None:
    """The planner's hold check: marketing to a customer with a ticket not closed (open, or
    pending an answer from them) waits a day.

    An open ticket nobody wrote to for STALE_TICKET no longer holds anything back, so a
    ticket left open by mistake cannot silence a customer for good.
    """
    t = ticket_table.c
    ticket_id = session.execute(
        select(t.id)
        .where(
            t.customer_id == customer_id,
            t.state != "closed",
            t.last_message_at > now - STALE_TICKET,
        )
        .order_by(t.id)
        .limit(1)
    ).scalar_one_or_none()
    if ticket_id is None:
        return None
    return now + HOLD_STEP, f"open support ticket {ticket_reference(int(ticket_id))}"


# Acknowledgements


def acknowledge_sender(session: Session, address: str, now: datetime, window: timedelta) -> bool:
    """True (and the sender noted) unless the sender was acknowledged within `window`."""
    digest = address_hash(address)
    session.execute(
        insert_for(session)(sender_table)
        .values(address_hash=digest, last_acknowledged_at=None, acknowledgements=0)
        .on_conflict_do_nothing(index_elements=["address_hash"])
    )
    s = sender_table.c
    result = session.execute(
        update(sender_table)
        .where(
            s.address_hash == digest,
            or_(s.last_acknowledged_at.is_(None), s.last_acknowledged_at <= now - window),
        )
        .values(last_acknowledged_at=now, acknowledgements=s.acknowledgements + 1)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
