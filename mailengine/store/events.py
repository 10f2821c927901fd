"""Events: recorded by the API and the CLI, consumed once by the engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.models import Event
from mailengine.store.sql_values import one_of
from mailengine.store.types import UTCDateTime

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

    Values go to the driver as it takes them (JSON text, UTC text on SQLite), converted once
    here: SQLAlchemy's processing of each value of each row was most of a 1,000-event batch's
    time. On SQLite a unit of work holds the write lock from its BEGIN IMMEDIATE
    (`Database.transaction`), and rows inserted in order take rowids past the largest in
    order: so the ids are those past the largest before (SQLite cannot say in which order a
    many-row INSERT's RETURNING comes). On PostgreSQL, `_insert_postgresql`: one short
    statement instead of a 1,000-row VALUES list that the driver parsed every time."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return _insert_postgresql(session, rows)
    moment = UTCDateTime().process_bind_param  # remembers each distinct moment
    values = [
        (
            row["customer_id"], row["type"], json.dumps(row["data"]),
            moment(row["occurred_at"], dialect), moment(row["received_at"], dialect),
            row["idempotency_key"],
        )
        for row in rows
    ]  # fmt: skip
    e = event_table.c
    before = int(session.execute(select(func.max(e.id))).scalar_one() or 0)
    session.connection().exec_driver_sql(_sqlite_insert(), values)
    new = session.execute(select(e.id).where(e.id > before).order_by(e.id)).scalars()
    ids = [int(event_id) for event_id in new]
    if len(ids) != len(rows):
        raise RuntimeError(f"{len(rows)} events inserted but {len(ids)} new ids found")
    return ids


def _insert_postgresql(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """The ids drawn from the sequence, then every row in one JSON document that the server
    turns back into rows (`jsonb_to_recordset`): one text parameter, where arrays per column
    were escaped element by element in Python by the driver."""
    ids = [int(i) for i in session.execute(_NEXT_IDS, {"count": len(rows)}).scalars()]
    moments: dict[datetime, str] = {}

    def moment(value: datetime) -> str:
        found = moments.get(value)
        if found is None:
            if value.utcoffset() is None:
                raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
            found = moments[value] = value.isoformat()
        return found

    document = [
        {
            "id": event_id, "customer_id": row["customer_id"], "type": row["type"],
            "data": row["data"], "occurred_at": moment(row["occurred_at"]),
            "received_at": moment(row["received_at"]), "idempotency_key": row["idempotency_key"],
        }
        for event_id, row in zip(ids, rows, strict=True)
    ]  # fmt: skip
    session.execute(_RECORDSET_INSERT, {"rows": json.dumps(document)})
    return ids


_COLUMNS = ("customer_id", "type", "data", "occurred_at", "received_at", "idempotency_key")
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('event', 'id')) FROM generate_series(1, :count)"
)
_RECORDSET_INSERT = text(
    "INSERT INTO event (id, customer_id, type, data, occurred_at, received_at, idempotency_key)"
    " SELECT id, customer_id, type, data, occurred_at, received_at, idempotency_key"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id integer, customer_id integer,"
    " type text, data jsonb, occurred_at timestamptz, received_at timestamptz,"
    " idempotency_key text)"
)


@lru_cache(maxsize=1)
def _sqlite_insert() -> str:
    """The INSERT of `_COLUMNS` as the sqlite3 driver takes it (positional parameters)."""
    compiled = insert(event_table).compile(dialect=sqlite.dialect(), column_keys=list(_COLUMNS))
    return str(compiled)


def event_ids_by_key(session: Session, keys: list[str]) -> dict[str, int]:
    """The ids of the events stored under these idempotency keys."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        rows = session.execute(
            select(event_table.c.idempotency_key, event_table.c.id).where(
                one_of(event_table.c.idempotency_key, chunk, session.get_bind().dialect.name)
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
