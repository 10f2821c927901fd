"""Events: recorded by the API and the CLI, consumed once by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.models import Event

event_table = Event.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EventRow:
    id: int
    customer_id: int | None
    type: str
    data: dict[str, Any]
    occurred_at: datetime


def record_event(
    session: Session,
    customer_id: int | None,
    event_type: str,
    data: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[int, bool]:
    """Store an event; with a key seen before, nothing is stored. Returns (id, newly stored)."""
    if idempotency_key is not None:
        existing = session.execute(
            select(event_table.c.id).where(event_table.c.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if existing is not None:
            return int(existing), False
    try:
        with session.begin_nested():
            result = session.execute(
                insert(event_table)
                .values(
                    customer_id=customer_id,
                    type=event_type,
                    data=data,
                    occurred_at=occurred_at,
                    received_at=now,
                    idempotency_key=idempotency_key,
                )
                .returning(event_table.c.id)
            )
            return int(result.scalar_one()), True
    except IntegrityError:  # the same key stored concurrently
        existing = session.execute(
            select(event_table.c.id).where(event_table.c.idempotency_key == idempotency_key)
        ).scalar_one()
        return int(existing), False


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert event rows (values of the event table) at once; their ids in the order of `rows`.

    SQLite cannot say in which order a many-row INSERT's RETURNING comes, so SQLAlchemy would
    send one INSERT per row (most of a 1,000-event batch's time). A unit of work on SQLite
    holds the write lock from its BEGIN IMMEDIATE (`Database.transaction`), and rows inserted
    in order take rowids past the largest in order: so the ids are those past the largest
    before. PostgreSQL returns them in parameter order."""
    e = event_table.c
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        statement = insert(event_table).returning(e.id, sort_by_parameter_order=True)
        return [int(row[0]) for row in session.execute(statement, rows)]
    before = int(session.execute(select(func.max(e.id))).scalar_one() or 0)
    session.execute(insert(event_table), rows)
    new = session.execute(select(e.id).where(e.id > before).order_by(e.id)).scalars()
    ids = [int(event_id) for event_id in new]
    if len(ids) != len(rows):
        raise RuntimeError(f"{len(rows)} events inserted but {len(ids)} new ids found")
    return ids


def event_ids_by_key(session: Session, keys: list[str]) -> dict[str, int]:
    """The ids of the events stored under these idempotency keys."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        rows = session.execute(
            select(event_table.c.idempotency_key, event_table.c.id).where(
                event_table.c.idempotency_key.in_(chunk)
            )
        )
        found.update({str(key): int(event_id) for key, event_id in rows})
    return found


def claim_new_events(session: Session, limit: int) -> list[EventRow]:
    """Unprocessed events, oldest first, locked against other engines (SKIP LOCKED)."""
    e = event_table.c
    statement = (
        select(e.id, e.customer_id, e.type, e.data, e.occurred_at)
        .where(e.processed_at.is_(None))
        .order_by(e.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [EventRow(**row._mapping) for row in session.execute(statement)]


def mark_events_processed(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(
            update(event_table).where(event_table.c.id.in_(ids)).values(processed_at=now)
        )


def events_of(session: Session, customer_id: int, since: datetime) -> list[EventRow]:
    e = event_table.c
    statement = (
        select(e.id, e.customer_id, e.type, e.data, e.occurred_at)
        .where(e.customer_id == customer_id, e.occurred_at >= since)
        .order_by(e.occurred_at, e.id)
    )
    return [EventRow(**row._mapping) for row in session.execute(statement)]
