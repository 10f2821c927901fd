"""What the engine did with one customer, read for people: enrollments (where they are in
each workflow, what is due when), the mail planned and sent with its outcome (outbox state,
attempts, the server's last reply, opens and clicks), and support tickets.

Plain frozen dataclasses, newest first, capped like `customer_record`. May import the store's
modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlmodel import Session

from mailengine.store.api_queries import tracking_event_table
from mailengine.store.customer_record import LIST_LIMIT, Capped
from mailengine.store.enrollments import enrollment_table
from mailengine.store.inbound_models import ticket_reference
from mailengine.store.inbound_store import inbound_table, ticket_table
from mailengine.store.outbox import outbox_table


@dataclass(frozen=True)
class EnrollmentState:
    id: int
    workflow: str
    workflow_version: str
    occurrence: str
    state: str
    step_id: str | None
    next_run_at: datetime | None
    holdout: bool
    entered_at: datetime
    finished_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class SentMail:
    """One outbox row and what the tracking saw of it (counts per kind: open, click, ...)."""

    id: int
    kind: str
    workflow: str
    step: str
    template: str
    subject: str
    state: str
    attempts: int
    last_code: int | None
    last_reply: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    tracked: dict[str, int]

    @property
    def opened(self) -> int:
        return self.tracked.get("open", 0)

    @property
    def clicked(self) -> int:
        return self.tracked.get("click", 0)


@dataclass(frozen=True)
class TicketSummary:
    id: int
    subject: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    last_message_at: datetime
    messages: int

    @property
    def reference(self) -> str:
        return ticket_reference(self.id)


@dataclass(frozen=True)
class CustomerActivity:
    enrollments: Capped[EnrollmentState]
    mails: Capped[SentMail]
    tickets: Capped[TicketSummary]


def customer_activity(
    session: Session, customer_id: int, limit: int = LIST_LIMIT
) -> CustomerActivity:
    return CustomerActivity(
        enrollments=enrollments_of(session, customer_id, limit),
        mails=mails_to(session, customer_id, limit),
        tickets=tickets_of(session, customer_id, limit),
    )


def enrollments_of(session: Session, customer_id: int, limit: int) -> Capped[EnrollmentState]:
    """Active enrollments first (soonest due first), then finished ones, newest first."""
    n = enrollment_table.c
    active_first = case((n.state == "active", 0), else_=1)
    statement = (
        select(
            n.id, n.workflow, n.workflow_version, n.occurrence, n.state, n.step_id,
            n.next_run_at, n.holdout, n.entered_at, n.finished_at, n.note,
        )
        .where(n.customer_id == customer_id)
        .order_by(active_first, n.next_run_at.asc().nulls_last(), n.entered_at.desc(), n.id.desc())
        .limit(limit)
    )  # fmt: skip
    rows = [EnrollmentState(**row._mapping) for row in session.execute(statement)]
    total = session.execute(select(func.count()).where(n.customer_id == customer_id)).scalar_one()
    return Capped(rows, int(total))


def mails_to(session: Session, customer_id: int, limit: int) -> Capped[SentMail]:
    """The customer's outbox rows, newest first, with their tracking counts."""
    o = outbox_table.c
    statement = (
        select(
            o.id, o.kind, o.workflow, o.step, o.template, o.subject, o.state, o.attempts,
            o.last_code, o.last_reply, o.created_at, o.next_attempt_at, o.sent_at,
        )
        .where(o.customer_id == customer_id)
        .order_by(o.created_at.desc(), o.id.desc())
        .limit(limit)
    )  # fmt: skip
    rows = [dict(row._mapping) for row in session.execute(statement)]
    tracked = _tracking_counts(session, [row["id"] for row in rows])
    mails = [SentMail(**row, tracked=tracked.get(row["id"], {})) for row in rows]
    total = session.execute(select(func.count()).where(o.customer_id == customer_id)).scalar_one()
    return Capped(mails, int(total))


def _tracking_counts(session: Session, outbox_ids: list[int]) -> dict[int, dict[str, int]]:
    if not outbox_ids:
        return {}
    t = tracking_event_table.c
    statement = (
        select(t.outbox_id, t.kind, func.count())
        .where(t.outbox_id.in_(outbox_ids))
        .group_by(t.outbox_id, t.kind)
    )
    found: dict[int, dict[str, int]] = {}
    for outbox_id, kind, count in session.execute(statement):
        found.setdefault(outbox_id, {})[kind] = int(count)
    return found


def tickets_of(session: Session, customer_id: int, limit: int) -> Capped[TicketSummary]:
    """The customer's support tickets, open and closed, latest message first."""
    t, i = ticket_table.c, inbound_table.c
    messages = (
        select(func.count()).where(i.ticket_id == t.id).correlate(ticket_table).scalar_subquery()
    )
    statement = (
        select(
            t.id, t.subject, t.state, t.opened_at, t.closed_at, t.last_message_at,
            messages.label("messages"),
        )
        .where(t.customer_id == customer_id)
        .order_by(t.last_message_at.desc(), t.id.desc())
        .limit(limit)
    )  # fmt: skip
    rows = [TicketSummary(**row._mapping) for row in session.execute(statement)]
    total = session.execute(select(func.count()).where(t.customer_id == customer_id)).scalar_one()
    return Capped(rows, int(total))
