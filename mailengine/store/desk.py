"""Queries of the support desk: the inbox, a ticket's entries (replies, notes, changes),
assigning, the state a person's answer leaves, and the rows of the waiting-time report.

Tickets themselves (opening, joining, closing) are `mailengine.store.tickets`. A ticket waits
for us from `awaiting_since` (the oldest customer message nobody answered) until a person
answers; `first_response_at` is kept from the first answer on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import case, func, select, update
from sqlmodel import Session

from mailengine.store.customers import customer_table
from mailengine.store.desk_models import TicketEntry
from mailengine.store.inbound_store import insert_for, ticket_table
from mailengine.store.outbox import outbox_table
from mailengine.store.tickets import TicketRow, tickets_by_id, tickets_where
from mailengine.store.users import user_table

entry_table = TicketEntry.__table__  # type: ignore[attr-defined]

InboxState = Literal["open", "pending", "closed", "all"]
InboxWho = Literal["all", "mine", "unassigned"]
INBOX_STATES: tuple[InboxState, ...] = ("open", "pending", "closed", "all")
INBOX_WHO: tuple[InboxWho, ...] = ("all", "mine", "unassigned")


@dataclass(frozen=True)
class Author:
    """Who did something on a ticket: a studio account (None from the command line)."""

    id: int | None
    email: str
    via: str = "studio"


@dataclass(frozen=True)
class InboxRow:
    """One ticket as the inbox lists it."""

    ticket: TicketRow
    customer_name: str
    assignee: str | None


@dataclass(frozen=True)
class EntryRow:
    """One entry of a ticket, with the delivery state of a reply's message."""

    id: int
    kind: str
    via: str
    author: str
    body: str
    created_at: datetime
    outbox_id: int | None
    delivery: str | None
    delivery_reply: str | None


@dataclass(frozen=True)
class DeskCustomer:
    """The profile a person answering a ticket sees beside it."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    locale: str | None
    city: str | None
    country: str | None
    created_at: datetime
    consent_status: str
    consent_updated_at: datetime | None
    orders_count: int
    total_spent_minor: int
    last_order_at: datetime | None
    forgotten_at: datetime | None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class ClockRow:
    """The times of one ticket the waiting-time report counts."""

    id: int
    state: str
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    awaiting_since: datetime | None
    assignee: str | None


# The inbox


def inbox(
    session: Session, *, state: InboxState, who: InboxWho, user_id: int, limit: int = 200
) -> list[InboxRow]:
    """Tickets in `state` for `who`: open ones longest-waiting first, pending ones by their
    last message, closed ones most recently closed first."""
    t, c, u = ticket_table.c, customer_table.c, user_table.c
    name = func.trim(func.coalesce(c.first_name, "") + " " + func.coalesce(c.last_name, ""))
    statement = (
        select(t.id, name.label("customer_name"), u.email.label("assignee"))
        .select_from(
            ticket_table.outerjoin(customer_table, c.id == t.customer_id).outerjoin(
                user_table, u.id == t.assignee_id
            )
        )
        .where(*_inbox_conditions(state, who, user_id))
        .order_by(*_inbox_order(state), t.id.desc())
        .limit(limit)
    )
    found = session.execute(statement).all()
    tickets = tickets_by_id(session, [int(row.id) for row in found])
    return [
        InboxRow(tickets[row.id], row.customer_name or "", row.assignee)
        for row in found
        if row.id in tickets
    ]


def inbox_counts(session: Session, *, who: InboxWho, user_id: int) -> dict[str, int]:
    """How many tickets each state holds for `who` (and `all`)."""
    t = ticket_table.c
    statement = (
        select(t.state, func.count())
        .where(*_inbox_conditions("all", who, user_id))
        .group_by(t.state)
    )
    counts: dict[str, int] = {state: 0 for state in INBOX_STATES}
    for state, count in session.execute(statement):
        counts[state] = int(count)
        counts["all"] += int(count)
    return counts


def _inbox_conditions(state: InboxState, who: InboxWho, user_id: int) -> list[Any]:
    t = ticket_table.c
    conditions: list[Any] = []
    if state != "all":
        conditions.append(t.state == state)
    if who == "mine":
        conditions.append(t.assignee_id == user_id)
    elif who == "unassigned":
        conditions.append(t.assignee_id.is_(None))
    return conditions


def _inbox_order(state: InboxState) -> list[Any]:
    t = ticket_table.c
    if state == "open":
        return [t.awaiting_since.asc().nulls_last()]
    if state == "closed":
        return [t.closed_at.desc()]
    if state == "pending":
        return [t.last_message_at.desc()]
    waiting_first = case((t.state == "open", 0), (t.state == "pending", 1), else_=2)
    return [waiting_first, t.awaiting_since.asc().nulls_last(), t.last_message_at.desc()]


def desk_customer(session: Session, customer_id: int) -> DeskCustomer | None:
    c = customer_table.c
    columns = [c[name] for name in DeskCustomer.__dataclass_fields__]
    row = session.execute(select(*columns).where(c.id == customer_id)).first()
    return DeskCustomer(**row._mapping) if row is not None else None


def other_tickets(session: Session, ticket: TicketRow, limit: int = 10) -> list[TicketRow]:
    """The customer's (or, for someone who is no customer, the address's) other tickets,
    whatever their state, the most recent first."""
    t = ticket_table.c
    who = (
        t.address == ticket.address
        if ticket.customer_id is None
        else (t.customer_id == ticket.customer_id)
    )
    return tickets_where(session, who & (t.id != ticket.id), limit=limit)


# Entries


def ticket_entries(session: Session, ticket_id: int) -> list[EntryRow]:
    """A ticket's entries in the order they were made."""
    e, o = entry_table.c, outbox_table.c
    statement = (
        select(
            e.id,
            e.kind,
            e.via,
            e.author,
            e.body,
            e.created_at,
            e.outbox_id,
            o.state.label("delivery"),
            o.last_reply.label("delivery_reply"),
        )
        .select_from(entry_table.outerjoin(outbox_table, o.id == e.outbox_id))
        .where(e.ticket_id == ticket_id)
        .order_by(e.created_at, e.id)
    )
    return [EntryRow(**row._mapping) for row in session.execute(statement)]


def add_entry(
    session: Session,
    ticket_id: int,
    kind: str,
    author: Author,
    now: datetime,
    *,
    body: str = "",
    request_key: str | None = None,
    outbox_id: int | None = None,
) -> int | None:
    """Record an entry; None when an entry with `request_key` was recorded before."""
    statement = (
        insert_for(session)(entry_table)
        .values(
            ticket_id=ticket_id,
            kind=kind,
            via=author.via,
            author_id=author.id,
            author=author.email,
            body=body,
            request_key=request_key,
            outbox_id=outbox_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["request_key"])
        .returning(entry_table.c.id)
    )
    created = session.execute(statement).scalar_one_or_none()
    return int(created) if created is not None else None


def entry_by_key(session: Session, request_key: str) -> int | None:
    """The ticket of the entry recorded under `request_key`, if there is one."""
    e = entry_table.c
    found = session.execute(select(e.ticket_id).where(e.request_key == request_key)).first()
    return int(found.ticket_id) if found is not None else None


def outbox_id_by_key(session: Session, idempotency_key: str) -> int | None:
    """The outbox row planned under `idempotency_key`."""
    o = outbox_table.c
    found = session.execute(select(o.id).where(o.idempotency_key == idempotency_key)).first()
    return int(found.id) if found is not None else None


# Changes


def assign_ticket_to(
    session: Session, ticket_id: int, assignee: Author | None, by: Author, now: datetime
) -> bool:
    """Give the ticket to `assignee` (None: to nobody); False if it was theirs already."""
    t = ticket_table.c
    assignee_id = assignee.id if assignee is not None else None
    result = session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.assignee_id.is_distinct_from(assignee_id))
        .values(assignee_id=assignee_id)
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    body = assignee.email if assignee is not None else ""
    add_entry(session, ticket_id, "assign", by, now, body=body)
    return True


def reopen_ticket(session: Session, ticket_id: int, by: Author, now: datetime) -> bool:
    """Open a closed ticket again: it waits for an answer from now; False if not closed."""
    t = ticket_table.c
    result = session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.state == "closed")
        .values(state="open", closed_at=None, awaiting_since=now)
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    add_entry(session, ticket_id, "reopen", by, now)
    return True


def record_answer(session: Session, ticket_id: int, now: datetime, *, close: bool) -> None:
    """A person answered: the waiting clock stops, the first answer is kept, and the ticket
    waits for the customer (pending), or is closed."""
    t = ticket_table.c
    session.execute(
        update(ticket_table)
        .where(t.id == ticket_id, t.first_response_at.is_(None))
        .values(first_response_at=now)
    )
    answered = update(ticket_table).where(t.id == ticket_id)
    if not close:
        session.execute(answered.values(state="pending", closed_at=None, awaiting_since=None))
        return
    session.execute(answered.values(awaiting_since=None))
    # A ticket closed before keeps the time it was closed.
    session.execute(answered.where(t.state != "closed").values(state="closed", closed_at=now))


# The waiting-time report


def clock_rows(session: Session, opened_since: datetime) -> list[ClockRow]:
    """Every ticket opened since `opened_since`, and every ticket still waiting for us."""
    t, u = ticket_table.c, user_table.c
    statement = (
        select(
            t.id,
            t.state,
            t.opened_at,
            t.first_response_at,
            t.closed_at,
            t.awaiting_since,
            u.email.label("assignee"),
        )
        .select_from(ticket_table.outerjoin(user_table, u.id == t.assignee_id))
        .where((t.opened_at >= opened_since) | (t.awaiting_since.is_not(None)))
        .order_by(t.id)
    )
    return [ClockRow(**row._mapping) for row in session.execute(statement)]
