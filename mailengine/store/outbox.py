"""The outbox: planned sends committed before any SMTP traffic, claimed by dispatchers.

Claiming is one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING: on
PostgreSQL any number of dispatchers take disjoint rows; on SQLite the single statement is
atomic, so one dispatcher claims safely. A row left in `sending` by a dispatcher that died is
claimed again once its lease runs out, and resent with the same Message-ID; a dispatcher
renews the claims it holds (`renew_claims`), and one that finds the holder of a claim gone
makes its rows due again at once (`hand_back_claims`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Engine, and_, case, func, select, union_all, update
from sqlmodel import Session

from mailengine.store.models import OutboxMessage
from mailengine.store.records import ClaimedSend, PlannedSend, SendOutcome
from mailengine.store.types import UTCDateTime

outbox_table = OutboxMessage.__table__  # type: ignore[attr-defined]
FINAL_STATES = ("sent", "failed", "suppressed")
_CLAIMED_COLUMNS = (
    "id", "idempotency_key", "kind", "workflow", "step", "customer_id", "recipient",
    "template", "subject", "preheader", "payload", "message_id", "attempts", "created_at",
)  # fmt: skip


_HOLDOUT_REPLY = "holdout: in the control group, not sent"
_UTC = UTCDateTime()

# Planning and outcomes run statements whose text never changes with the number of rows: an
# INSERT with one VALUES row per send made psycopg parse a 1000-row statement for every batch.
# psycopg parses a statement once when it is at most 4096 characters long, so keep them short.
# PostgreSQL gets one array per column, sent in binary (`%(name)b`, psycopg's placeholder: the
# text form of an array costs psycopg a regex per element; psycopg is the only PostgreSQL driver
# mailengine uses); SQLite runs the DBAPI executemany. Values go in the form the columns' types
# write: UTCDateTime's, and the payload as JSON text, as SQLAlchemy's JSON type writes it.
_PLAN_SENDS_POSTGRESQL = """
    INSERT INTO outbox (
        idempotency_key, kind, workflow, workflow_version, step, customer_id, recipient,
        template, subject, preheader, payload, message_id, state, last_reply, attempts,
        next_attempt_at, created_at, updated_at
    )
    SELECT
        idempotency_key, kind, workflow, workflow_version, step, customer_id, recipient,
        template, subject, preheader, payload, message_id, state, last_reply, 0,
        next_attempt_at, %(now)b, %(now)b
    FROM unnest(
        CAST(%(idempotency_key)b AS text[]), CAST(%(kind)b AS text[]),
        CAST(%(workflow)b AS text[]), CAST(%(workflow_version)b AS text[]),
        CAST(%(step)b AS text[]), CAST(%(customer_id)b AS integer[]),
        CAST(%(recipient)b AS text[]), CAST(%(template)b AS text[]),
        CAST(%(subject)b AS text[]), CAST(%(preheader)b AS text[]),
        CAST(%(payload)b AS jsonb[]), CAST(%(message_id)b AS text[]),
        CAST(%(state)b AS text[]), CAST(%(last_reply)b AS text[]),
        CAST(%(next_attempt_at)b AS timestamptz[])
    ) WITH ORDINALITY AS planned (
        idempotency_key, kind, workflow, workflow_version, step, customer_id, recipient,
        template, subject, preheader, payload, message_id, state, last_reply,
        next_attempt_at, position
    )
    ORDER BY position
    ON CONFLICT (idempotency_key) DO NOTHING
"""
_PLAN_SENDS_SQLITE = """
    INSERT INTO outbox (
        idempotency_key, kind, workflow, workflow_version, step, customer_id, recipient,
        template, subject, preheader, payload, message_id, state, last_reply,
        next_attempt_at, created_at, updated_at, attempts
    )
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
    ON CONFLICT (idempotency_key) DO NOTHING
"""
# The order of the values in a planned row, as the PostgreSQL statement names them.
_PLANNED_COLUMNS = (
    "idempotency_key", "kind", "workflow", "workflow_version", "step", "customer_id",
    "recipient", "template", "subject", "preheader", "payload", "message_id", "state",
    "last_reply", "next_attempt_at",
)  # fmt: skip
_PLAN_BATCH = 1000


def plan_sends(session: Session, sends: Sequence[PlannedSend], now: datetime) -> int:
    """Insert planned sends; a key planned before is skipped. Returns how many are new."""
    if not sends:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    stamp = _UTC.process_bind_param(now, dialect)
    rows = [
        (
            send.idempotency_key,
            send.kind,
            send.workflow,
            send.workflow_version,
            send.step,
            send.customer_id,
            send.recipient,
            send.template,
            send.subject,
            send.preheader,
            json.dumps({**send.payload, "holdout": True} if send.held_out else send.payload),
            send.message_id,
            "suppressed" if send.held_out else "queued",
            _HOLDOUT_REPLY if send.held_out else None,
            stamp if send.not_before is None else _UTC.process_bind_param(send.not_before, dialect),
        )
        for send in sends
    ]
    if dialect.name != "postgresql":
        result = connection.exec_driver_sql(
            _PLAN_SENDS_SQLITE, [(*row, stamp, stamp) for row in rows]
        )
        return int(result.rowcount)
    created = 0
    for start in range(0, len(rows), _PLAN_BATCH):
        columns = zip(*rows[start : start + _PLAN_BATCH], strict=True)
        parameters = {
            name: list(values) for name, values in zip(_PLANNED_COLUMNS, columns, strict=True)
        }
        parameters["now"] = stamp
        created += int(connection.exec_driver_sql(_PLAN_SENDS_POSTGRESQL, parameters).rowcount)
    return created


def claim_due(
    session: Session, worker: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedSend]:
    """Take up to `limit` due messages for `worker`, oldest due first.

    Each way of being due (queued, deferred, a `sending` lease run out) is read on its own
    from the (state, next_attempt_at, id) index, in that order and only as far as `limit`; the
    three are then merged. One condition with OR cannot use the index's order: PostgreSQL read
    and sorted the whole queue for every batch (12 ms for 20,000 queued, growing with it).
    """
    o = outbox_table.c
    due = [
        and_(o.state == "queued", o.next_attempt_at <= now),
        and_(o.state == "deferred", o.next_attempt_at <= now),
        and_(o.state == "sending", o.claimed_at < now - lease),
    ]
    # Each branch is a subquery of its own: SQLite allows no LIMIT on a member of a UNION.
    branches = [
        select(o.id, o.next_attempt_at)
        .where(condition)
        .order_by(o.next_attempt_at, o.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .subquery()
        for condition in due
    ]
    merged = union_all(*(select(branch.c.id, branch.c.next_attempt_at) for branch in branches))
    oldest = merged.subquery()
    candidates = select(oldest.c.id).order_by(oldest.c.next_attempt_at, oldest.c.id).limit(limit)
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


def release_claims(session: Session, worker: str, outbox_ids: Sequence[int], now: datetime) -> int:
    """Hand claimed, unsent messages back as they were before the claim, due at once.

    For a batch a dispatcher took ahead and then did not send (it was asked to stop).
    """
    if not outbox_ids:
        return 0
    o = outbox_table.c
    statement = (
        update(outbox_table)
        .where(o.id.in_(outbox_ids), o.claimed_by == worker, o.state == "sending")
        .values(
            state=case((o.attempts > 1, "deferred"), else_="queued"),
            attempts=o.attempts - 1,
            claimed_by=None,
            updated_at=now,
        )
    )
    return int(session.connection().execute(statement).rowcount)


class Renewal(NamedTuple):
    """What a renewal did: the claims it started again (`renewed`), and those it found still
    held but in another transaction's hands, left as they were (`busy`)."""

    renewed: set[int]
    busy: set[int]


def renew_claims(
    session: Session, worker: str, outbox_ids: Sequence[int], now: datetime
) -> Renewal:
    """Start the lease of `worker`'s claims on these messages again from `now`. A message
    another dispatcher took over, or already final, is in neither set.

    A row another transaction has locked is skipped, not waited for (PostgreSQL): most often
    it is this dispatcher's own outcome being stored, and the renewal and an outcome write
    locking the same rows in different orders deadlocked. Such a row is `busy` while it still
    reads as held: not renewed (its lease may have run out and another dispatcher be taking
    it), nor lost."""
    if not outbox_ids:
        return Renewal(set(), set())
    o = outbox_table.c
    held = and_(o.id.in_(outbox_ids), o.claimed_by == worker, o.state == "sending")
    free = select(o.id).where(held).with_for_update(skip_locked=True).scalar_subquery()
    statement = update(outbox_table).where(o.id.in_(free)).values(claimed_at=now).returning(o.id)
    renewed = set(session.scalars(statement))
    if len(renewed) == len(set(outbox_ids)):
        return Renewal(renewed, set())
    busy = set(session.scalars(select(o.id).where(held))) - renewed
    return Renewal(renewed, busy)


def claim_holders(session: Session) -> set[str]:
    """Everyone holding a claim on a message now."""
    o = outbox_table.c
    statement = select(o.claimed_by).where(o.state == "sending", o.claimed_by.is_not(None))
    return set(session.scalars(statement.distinct()))


def hand_back_claims(
    session: Session,
    holders: Sequence[str],
    now: datetime,
    reason: str,
    outbox_ids: Sequence[int] | None = None,
) -> int:
    """Make messages claimed by `holders` (only `outbox_ids`, if given) due again at once.

    For messages whose SMTP transaction may have begun: a transaction cut short at shutdown,
    or a holder that no longer runs. They count as tried (their server may have them) and
    are deferred with `reason`; sent again, they keep their Message-ID.
    """
    if not holders or (outbox_ids is not None and not outbox_ids):
        return 0
    o = outbox_table.c
    conditions = [o.claimed_by.in_(holders), o.state == "sending"]
    if outbox_ids is not None:
        conditions.append(o.id.in_(outbox_ids))
    statement = (
        update(outbox_table)
        .where(*conditions)
        .values(
            state="deferred",
            claimed_by=None,
            last_reply=reason[:1000],
            next_attempt_at=case((o.next_attempt_at > now, now), else_=o.next_attempt_at),
            updated_at=now,
        )
    )
    return int(session.connection().execute(statement).rowcount)


# A group of outcomes: one UPDATE on PostgreSQL, an executemany on SQLite.
_RECORD_OUTCOMES_POSTGRESQL = """
    UPDATE outbox
    SET state = outcome.state,
        last_code = outcome.last_code,
        last_reply = outcome.last_reply,
        next_attempt_at = coalesce(outcome.next_attempt_at, outbox.next_attempt_at),
        sent_at = CASE WHEN outcome.state = 'sent' THEN %(now)b ELSE outbox.sent_at END,
        claimed_by = NULL,
        updated_at = %(now)b
    FROM unnest(
        CAST(%(id)b AS integer[]), CAST(%(state)b AS text[]), CAST(%(last_code)b AS integer[]),
        CAST(%(last_reply)b AS text[]), CAST(%(next_attempt_at)b AS timestamptz[])
    ) AS outcome (id, state, last_code, last_reply, next_attempt_at)
    WHERE outbox.id = outcome.id AND outbox.claimed_by = %(worker)b
"""
_RECORD_OUTCOME_SQLITE = """
    UPDATE outbox
    SET state = ?1,
        last_code = ?2,
        last_reply = ?3,
        next_attempt_at = coalesce(?4, next_attempt_at),
        sent_at = CASE WHEN ?1 = 'sent' THEN ?5 ELSE sent_at END,
        claimed_by = NULL,
        updated_at = ?5
    WHERE id = ?6 AND claimed_by = ?7
"""


def record_outcomes(
    session: Session, worker: str, outcomes: Sequence[SendOutcome], now: datetime
) -> int:
    """Store what happened to claimed messages; rows another worker took over are left alone."""
    return record_outcomes_on(session.connection(), worker, outcomes, now)


def record_outcomes_alone(
    engine: Engine, worker: str, outcomes: Sequence[SendOutcome], now: datetime
) -> int:
    """`record_outcomes` as a transaction of its own, its one statement sent on a connection
    in autocommit: on PostgreSQL one round trip, where BEGIN, the UPDATE and COMMIT were
    three (0.8 ms of a dispatcher's CPU for a group of eight outcomes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return record_outcomes_on(connection, worker, outcomes, now)


def record_outcomes_on(
    connection: Connection, worker: str, outcomes: Sequence[SendOutcome], now: datetime
) -> int:
    """`record_outcomes` on a connection (in its transaction, if it is in one)."""
    if not outcomes:
        return 0
    dialect = connection.dialect
    stamp = _UTC.process_bind_param(now, dialect)
    if dialect.name != "postgresql":
        rows = [
            (
                outcome.state,
                outcome.code,
                (outcome.reply or "")[:1000] or None,
                _UTC.process_bind_param(outcome.next_attempt_at, dialect),
                stamp,
                outcome.outbox_id,
                worker,
            )
            for outcome in outcomes
        ]
        return int(connection.exec_driver_sql(_RECORD_OUTCOME_SQLITE, rows).rowcount)
    # One outcome per message, the first: as if each outcome were one UPDATE, in order.
    first: dict[int, SendOutcome] = {}
    for outcome in outcomes:
        first.setdefault(outcome.outbox_id, outcome)
    parameters = {
        "id": list(first),
        "state": [outcome.state for outcome in first.values()],
        "last_code": [outcome.code for outcome in first.values()],
        "last_reply": [(outcome.reply or "")[:1000] or None for outcome in first.values()],
        "next_attempt_at": [
            _UTC.process_bind_param(outcome.next_attempt_at, dialect) for outcome in first.values()
        ],
        "now": stamp,
        "worker": worker,
    }
    return int(connection.exec_driver_sql(_RECORD_OUTCOMES_POSTGRESQL, parameters).rowcount)


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
