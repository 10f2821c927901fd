"""What `simulate` and `preview` ask about one customer, with the engine's own SQL.

Whether the customer is eligible at all, matches one audience condition, falls on a yearly
trigger's day, and which occurrences of a workflow already enrolled them: each built from
`workflows.audience` as the engine builds its statements, for one customer id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from mailengine.store.audience_sql import audience_filter, eligible, yearly_filter
from mailengine.store.customers import consent_history, customer_table
from mailengine.store.enrollments import enrollment_table
from mailengine.store.suppressions import suppression_table
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Workflow, YearlyTrigger


@dataclass(frozen=True)
class CustomerFacts:
    """What explanations quote: the customer's stored values, consent and suppression."""

    id: int
    email: str
    values: dict[str, Any]  # column name -> value (attributes as a dict)
    consent_since: datetime | None  # when the current consent status was recorded
    suppression: str | None  # the reason, when the address is suppressed
    suppressed_at: datetime | None


def customer_facts(session: Session, customer_id: int) -> CustomerFacts | None:
    c, s = customer_table.c, suppression_table.c
    row = session.execute(select(customer_table).where(c.id == customer_id)).mappings().first()
    if row is None:
        return None
    values = dict(row)
    suppression = session.execute(
        select(s.reason, s.created_at).where(s.address_hash == values["email_hash"])
    ).first()
    status = values["consent_status"]
    changes = [r.recorded_at for r in consent_history(session, customer_id) if r.status == status]
    return CustomerFacts(
        id=customer_id,
        email=values["email"],
        values=values,
        consent_since=changes[-1] if changes else values.get("consent_updated_at"),
        suppression=suppression[0] if suppression else None,
        suppressed_at=suppression[1] if suppression else None,
    )


def is_eligible(session: Session, workflow: Workflow, customer_id: int) -> bool:
    """May the workflow mail this customer at all (consent, suppression, not forgotten)?"""
    c = customer_table.c
    statement = select(c.id).where(
        c.id == customer_id, eligible(transactional=workflow.transactional)
    )
    return session.execute(statement).first() is not None


def on_yearly_day(
    session: Session,
    workflow: Workflow,
    trigger: YearlyTrigger,
    day: date,
    customer_id: int,
    context: AudienceContext,
) -> bool:
    """Would the engine's yearly run on `day` enroll this customer (date and audience)?"""
    c = customer_table.c
    statement = select(c.id).where(
        c.id == customer_id, yearly_filter(trigger, [day]), audience_filter(workflow, context)
    )
    return session.execute(statement).first() is not None


@dataclass(frozen=True)
class StoredEnrollment:
    id: int
    workflow: str
    workflow_version: str
    occurrence: str
    state: str
    step_id: str | None
    next_run_at: datetime | None
    entered_at: datetime
    holdout: bool


def customer_enrollments(session: Session, customer_id: int) -> list[StoredEnrollment]:
    """Every enrollment of this customer, oldest first (the engine walks ties in this order)."""
    n = enrollment_table.c
    statement = (
        select(
            n.id, n.workflow, n.workflow_version, n.occurrence, n.state, n.step_id,
            n.next_run_at, n.entered_at, n.holdout,
        )
        .where(n.customer_id == customer_id)
        .order_by(n.id)
    )  # fmt: skip
    return [StoredEnrollment(*row) for row in session.execute(statement)]
