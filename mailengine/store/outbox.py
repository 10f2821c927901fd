"""The outbox: planned sends committed before any SMTP traffic, claimed by dispatchers.

Claiming is one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING: on
PostgreSQL any number of dispatchers take disjoint rows; on SQLite the single statement is
atomic, so one dispatcher claims safely. A row left in `sending` by a dispatcher that died is
claimed again once its lease runs out, and resent with the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlmodel import Session

from mailengine.store.database import upsert_insert
from mailengine.store.models import OutboxMessage
from mailengine.store.records import ClaimedSend, PlannedSend, SendOutcome

outbox_table = OutboxMessage.__table__  # type: ignore[attr-defined]
FINAL_STATES = ("sent", "failed", "suppressed")
_CLAIMED_COLUMNS = (
    "id",
    "idempotency_key",
    "kind",
    "workflow",
    "step",
    "customer_id",
    "recipient",
    "template",
    "subject",
    "preheader",
    "payload",
    "message_id",
    "attempts",
    "created_at",
)


def plan_sends(session: Session, sends: Sequence[PlannedSend], now: datetime) -> int:
    """Insert planned sends; a key planned before is skipped. Returns how many are new."""
    if not sends:
        return 0
    rows = [
        {
            "idempotency_key": send.idempotency_key,
            "kind": send.kind,
            "workflow": send.workflow,
            "workflow_version": send.workflow_version,
            "step": send.step,
            "customer_id": send.customer_id,
            "recipient": send.recipient,
            "template": send.template,
            "subject": send.subject,
            "preheader": send.preheader,
            "payload": {**send.payload, "holdout": True} if send.held_out else send.payload,
            "message_id": send.message_id,
            "state": "suppressed" if send.held_out else "queued",
            "last_reply": "holdout: in the control group, not sent" if send.held_out else None,
            "attempts": 0,
            "next_attempt_at": send.not_before or now,
            "created_at": now,
            "updated_at": now,
        }
        for send in sends
    ]
    insert = upsert_insert(session)
    statement = (
        insert(outbox_table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(outbox_table.c.id)
    )
    created = 0
    for start in range(0, len(rows), 1000):
        result = session.execute(statement, rows[start : start + 1000])
        created += len(result.fetchall())
    return created


def claim_due(
    session: Session, worker: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedSend]:
    """Take up to `limit` due messages for `worker`, oldest due first."""
    o = outbox_table.c
    due = or_(
        and_(o.state.in_(("queued", "deferred")), o.next_attempt_at <= now),
        and_(o.state == "sending", o.claimed_at < now - lease),
    )
    candidates = (
        select(o.id)
        .where(due)
        .order_by(o.next_attempt_at, o.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(outbox_table)
        .where(o.id.in_(candidates.scalar_subquery()))
        .values(
            state="sending",
            claimed_at=now,
            claimed_by=worker,
            attempts=o.attempts + 1,
            updated_at=now,
        )
        .returning(*(o[name] for name in _CLAIMED_COLUMNS))
    )
    claimed = [ClaimedSend(**row._mapping) for row in session.execute(statement)]
    claimed.sort(key=lambda send: send.id)
    return claimed


def _record_outcome_statement() -> Any:
    o = outbox_table.c
    return (
        update(outbox_table)
        .where(o.id == bindparam("b_id"), o.claimed_by == bindparam("b_worker"))
        .values(
            state=bindparam("b_state"),
            last_code=bindparam("b_code"),
            last_reply=bindparam("b_reply"),
            next_attempt_at=func.coalesce(
                bindparam("b_next", type_=o.next_attempt_at.type), o.next_attempt_at
            ),
            sent_at=case(
                (bindparam("b_state") == "sent", bindparam("b_now", type_=o.sent_at.type)),
                else_=o.sent_at,
            ),
            claimed_by=None,
            updated_at=bindparam("b_now", type_=o.updated_at.type),
        )
    )


# Built once: building it for every group commit cost more than the commit itself
# (0.6 ms against 0.25 ms of CPU per commit on PostgreSQL).
_RECORD_OUTCOME = _record_outcome_statement()


def record_outcomes(
    session: Session, worker: str, outcomes: Sequence[SendOutcome], now: datetime
) -> int:
    """Store what happened to claimed messages; rows another worker took over are left alone."""
    if not outcomes:
        return 0
    result = session.connection().execute(
        _RECORD_OUTCOME,
        [
            {
                "b_id": outcome.outbox_id,
                "b_worker": worker,
                "b_state": outcome.state,
                "b_code": outcome.code,
                "b_reply": (outcome.reply or "")[:1000] or None,
                "b_next": outcome.next_attempt_at,
                "b_now": now,
            }
            for outcome in outcomes
        ],
    )
    return int(result.rowcount)


def count_by_state(session: Session, workflow: str | None = None) -> dict[str, int]:
    o = outbox_table.c
    statement = select(o.state, func.count()).group_by(o.state)
    if workflow is not None:
        statement = statement.where(o.workflow == workflow)
    return {state: int(count) for state, count in session.execute(statement)}


def pending_count(session: Session) -> int:
    """Messages not yet in a final state (queued, sending or deferred)."""
    o = outbox_table.c
    statement = select(func.count()).where(o.state.not_in(FINAL_STATES))
    return int(session.execute(statement).scalar_one())


def next_due_at(session: Session) -> datetime | None:
    o = outbox_table.c
    statement = select(func.min(o.next_attempt_at)).where(o.state.in_(("queued", "deferred")))
    value: datetime | None = session.execute(statement).scalar_one()
    return value
