"""Enrollments: who is in which workflow, at which step, and when the engine looks again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlmodel import Session

from mailengine.store.database import upsert_insert
from mailengine.store.models import Enrollment, WorkflowVersion
from mailengine.store.outbox import outbox_table

enrollment_table = Enrollment.__table__  # type: ignore[attr-defined]
version_table = WorkflowVersion.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewEnrollment:
    workflow: str
    workflow_version: str
    customer_id: int
    occurrence: str
    step_id: str | None
    next_run_at: datetime
    holdout: bool = False
    trigger_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DueEnrollment:
    id: int
    workflow: str
    workflow_version: str
    customer_id: int
    occurrence: str
    step_id: str | None
    holdout: bool
    entered_at: datetime
    trigger_data: dict[str, Any]


@dataclass(frozen=True)
class EnrollmentChange:
    """Where an enrollment goes next: a new step and time, or a final state."""

    id: int
    state: str  # active | completed | exited | failed
    step_id: str | None
    next_run_at: datetime | None
    note: str | None = None


def remember_version(
    session: Session, name: str, version: str, path: str, source: str, now: datetime
) -> None:
    insert = upsert_insert(session)
    session.execute(
        insert(version_table)
        .values(name=name, version=version, path=path, source=source, loaded_at=now)
        .on_conflict_do_nothing(index_elements=["name", "version"])
    )


def version_source(session: Session, name: str, version: str) -> tuple[str, str] | None:
    """(path, source) of a stored workflow version."""
    row = session.execute(
        select(version_table.c.path, version_table.c.source).where(
            version_table.c.name == name, version_table.c.version == version
        )
    ).first()
    return (row.path, row.source) if row is not None else None


def reentry_blocked(
    session: Session,
    workflow: str,
    customer_ids: Sequence[int],
    policy: str,
    after: timedelta | None,
    now: datetime,
) -> set[int]:
    """Customers the workflow's re-entry policy keeps out right now."""
    if policy == "always" or not customer_ids:
        return set()
    n = enrollment_table.c
    blocked: set[int] = set()
    for start in range(0, len(customer_ids), 2000):
        chunk = list(customer_ids[start : start + 2000])
        condition = and_(n.workflow == workflow, n.customer_id.in_(chunk))
        if policy == "after":
            window = after or timedelta(0)
            condition = and_(condition, or_(n.state == "active", n.entered_at > now - window))
        blocked.update(session.execute(select(n.customer_id).where(condition)).scalars())
    return blocked


def enroll(session: Session, enrollments: Sequence[NewEnrollment], now: datetime) -> list[int]:
    """Insert enrollments; one that exists already (same occurrence) is skipped.

    Returns the customer ids newly enrolled.
    """
    if not enrollments:
        return []
    insert = upsert_insert(session)
    statement = (
        insert(enrollment_table)
        .on_conflict_do_nothing(index_elements=["workflow", "customer_id", "occurrence"])
        .returning(enrollment_table.c.customer_id)
    )
    rows = [
        {
            "workflow": item.workflow,
            "workflow_version": item.workflow_version,
            "customer_id": item.customer_id,
            "occurrence": item.occurrence,
            "state": "active" if item.step_id is not None else "completed",
            "step_id": item.step_id,
            "next_run_at": item.next_run_at,
            "holdout": item.holdout,
            "trigger_data": item.trigger_data,
            "entered_at": now,
            "updated_at": now,
        }
        for item in enrollments
    ]
    created: list[int] = []
    for start in range(0, len(rows), 1000):
        created.extend(session.execute(statement, rows[start : start + 1000]).scalars())
    return created


def any_enrollment_due(session: Session, now: datetime, lease: timedelta) -> bool:
    """Whether `claim_due_enrollments` would find one: a read, taking no write lock."""
    n = enrollment_table.c
    return session.execute(select(n.id).where(_due(now, lease)).limit(1)).first() is not None


def _due(now: datetime, lease: timedelta) -> Any:
    n = enrollment_table.c
    return and_(
        n.state == "active",
        n.next_run_at <= now,
        or_(n.claimed_by.is_(None), n.claimed_at < now - lease),
    )


def claim_due_enrollments(
    session: Session, worker: str, now: datetime, limit: int, lease: timedelta
) -> list[DueEnrollment]:
    """Active enrollments whose time has come, taken for `worker` (SKIP LOCKED on PostgreSQL)."""
    n = enrollment_table.c
    candidates = (
        select(n.id)
        .where(_due(now, lease))
        .order_by(n.next_run_at, n.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(enrollment_table)
        .where(n.id.in_(candidates.scalar_subquery()))
        .values(claimed_by=worker, claimed_at=now)
        .returning(
            n.id, n.workflow, n.workflow_version, n.customer_id, n.occurrence, n.step_id,
            n.holdout, n.entered_at, n.trigger_data,
        )
    )  # fmt: skip
    due_rows = [DueEnrollment(**row._mapping) for row in session.execute(statement)]
    due_rows.sort(key=lambda row: row.id)
    return due_rows


def apply_changes(
    session: Session, worker: str, changes: Sequence[EnrollmentChange], now: datetime
) -> None:
    """Move claimed enrollments on and release them."""
    if not changes:
        return
    n = enrollment_table.c
    statement = (
        update(enrollment_table)
        .where(n.id == bindparam("b_id"), n.claimed_by == bindparam("b_worker"))
        .values(
            state=bindparam("b_state"),
            step_id=bindparam("b_step"),
            next_run_at=bindparam("b_next", type_=n.next_run_at.type),
            note=bindparam("b_note"),
            finished_at=bindparam("b_finished", type_=n.finished_at.type),
            claimed_by=None,
            claimed_at=None,
            updated_at=bindparam("b_now", type_=n.updated_at.type),
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_id": change.id,
                "b_worker": worker,
                "b_state": change.state,
                "b_step": change.step_id,
                "b_next": change.next_run_at if change.state == "active" else None,
                "b_note": (change.note or "")[:500] or None,
                "b_finished": None if change.state == "active" else now,
                "b_now": now,
            }
            for change in changes
        ],
    )


def exit_active(
    session: Session, customer_id: int, workflows: Iterable[str], now: datetime, note: str
) -> int:
    """End the customer's active enrollments in these workflows (an exit goal was reached)."""
    return exit_all_active(session, [customer_id], workflows, now, note)


def exit_all_active(
    session: Session,
    customer_ids: Sequence[int],
    workflows: Iterable[str],
    now: datetime,
    note: str,
) -> int:
    """End these customers' active enrollments in these workflows, in one statement per
    2,000 customers."""
    names = list(workflows)
    if not names or not customer_ids:
        return 0
    n = enrollment_table.c
    ended = 0
    for start in range(0, len(customer_ids), 2000):
        result = session.execute(
            update(enrollment_table)
            .where(
                n.customer_id.in_(list(customer_ids[start : start + 2000])),
                n.workflow.in_(names),
                n.state == "active",
            )
            .values(
                state="exited", note=note[:500], finished_at=now, updated_at=now, next_run_at=None
            )
        )
        ended += int(result.rowcount)  # type: ignore[attr-defined]
    return ended


def marketing_planned_since(session: Session, customer_id: int, since: datetime) -> list[datetime]:
    """When marketing mail to this customer was planned since `since` (for the frequency cap)."""
    o = outbox_table.c
    statement = (
        select(o.created_at)
        .where(
            o.customer_id == customer_id,
            o.kind == "marketing",
            o.created_at >= since,
            o.state.not_in(("suppressed", "failed")),
        )
        .order_by(o.created_at)
    )
    return list(session.execute(statement).scalars())


def enrollment_counts(session: Session, workflow: str | None = None) -> dict[str, int]:
    n = enrollment_table.c
    statement = select(n.state, func.count()).group_by(n.state)
    if workflow is not None:
        statement = statement.where(n.workflow == workflow)
    return {state: int(count) for state, count in session.execute(statement)}
