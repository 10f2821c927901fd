"""Events: recorded by the API and the CLI, consumed once by the engine.

Every event stored here is queued for the engine in the same statement or transaction
(`event_pending`); the engine claims from that queue and deletes what it worked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import any_, case, delete, func, insert, null, select, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.json_text import json_text
from mailengine.store.models import Event, EventPending
from mailengine.store.sql_values import one_of, one_of_ids
from mailengine.store.sqlite_lookups import rows_of_keys, sqlite_driver
from mailengine.store.types import UTCDateTime

event_table = Event.__table__  # type: ignore[attr-defined]
pending_table = EventPending.__table__  # type: ignore[attr-defined]


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
            event_id = int(result.scalar_one())
            session.execute(insert(pending_table).values(event_id=event_id))
            return event_id, True
    except IntegrityError:  # the same key stored concurrently
        existing = session.execute(
            select(event_table.c.id).where(event_table.c.idempotency_key == idempotency_key)
        ).scalar_one()
        return int(existing), False


def store_events_once(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Store event rows (values of the event table), each once under its `idempotency_key`:
    a row whose key was stored before, or earlier in `rows`, is not stored again. For each
    row, in order: (its event's id, newly stored)."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return _store_postgresql(session, rows)
    known = event_ids_by_key(session, [key for row in rows if (key := row["idempotency_key"])])
    first: dict[str, int] = {}
    inserting: list[int] = []
    for index, row in enumerate(rows):
        key = row["idempotency_key"]
        if key is None or (key not in known and first.setdefault(key, index) == index):
            inserting.append(index)
    ids = insert_events(session, [rows[index] for index in inserting])
    new_ids = dict(zip(inserting, ids, strict=True))
    for index, event_id in new_ids.items():
        if (key := rows[index]["idempotency_key"]) is not None:
            known[key] = event_id
    return [
        (new_ids[index], True) if index in new_ids else (known[row["idempotency_key"]], False)
        for index, row in enumerate(rows)
    ]


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert event rows (values of the event table) at once; their ids in the order of `rows`.

    Values go to the driver as it takes them (JSON text, UTC text on SQLite), converted once
    here: SQLAlchemy's processing of each value of each row was most of a 1,000-event batch's
    time. On SQLite a unit of work holds the write lock from its BEGIN IMMEDIATE
    (`Database.transaction`), and rows inserted in order take rowids past the largest in
    order: so the ids are those past the largest before (SQLite cannot say in which order a
    many-row INSERT's RETURNING comes). On PostgreSQL, `_store_postgresql`."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        stored = _store_postgresql(session, rows)
        if not all(new for _, new in stored):
            raise IntegrityError("INSERT INTO event", None, ValueError("an event key is taken"))
        return [event_id for event_id, _ in stored]
    moment = UTCDateTime().process_bind_param  # remembers each distinct moment
    values = [
        (
            row["customer_id"], row["type"], json_text(row["data"]),
            moment(row["occurred_at"], dialect), moment(row["received_at"], dialect),
            row["idempotency_key"],
        )
        for row in rows
    ]  # fmt: skip
    driver = sqlite_driver(session)
    assert driver is not None
    before = int(driver.execute("SELECT max(id) FROM event").fetchone()[0] or 0)
    driver.executemany(_sqlite_insert(), values)
    new = driver.execute("SELECT id FROM event WHERE id > ? ORDER BY id", (before,))
    ids = [int(event_id) for (event_id,) in new]
    if len(ids) != len(rows):
        raise RuntimeError(f"{len(rows)} events inserted but {len(ids)} new ids found")
    driver.execute(
        "INSERT INTO event_pending (event_id) SELECT id FROM event WHERE id > ?", (before,)
    )
    return ids


def _store_postgresql(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """`store_events_once` on PostgreSQL in one statement (`_STORE_ONCE`): the rows go as one
    JSON document (one text parameter: psycopg escapes the elements of array parameters one
    by one in Python, ~5x the cost), ids are drawn from the sequence in the rows' order, the
    INSERT skips taken keys (ON CONFLICT DO NOTHING, which also waits out another
    transaction storing the same key) and the same statement reads the ids stored before
    under the skipped keys. Where there were a key lookup, an id draw and an INSERT."""
    moment = moments_as_text()
    first: dict[str, int] = {}  # a key repeated in `rows`: the first is stored, the rest
    document = []
    for index, row in enumerate(rows):
        key = row["idempotency_key"]
        if key is None or first.setdefault(key, index) == index:
            document.append(
                {"n": index, "customer_id": row["customer_id"], "type": row["type"],
                 "data": row["data"], "occurred_at": moment(row["occurred_at"]),
                 "received_at": moment(row["received_at"]), "idempotency_key": key}
            )  # fmt: skip
    found: dict[int, tuple[int, bool]] = {}
    raced: list[int] = []  # skipped for a key another transaction stored meanwhile
    result = session.connection().exec_driver_sql(_STORE_ONCE, {"rows": json_text(document)})
    for index, new_id, earlier_id in result:
        if new_id is not None:
            found[index] = (int(new_id), True)
        elif earlier_id is not None:
            found[index] = (int(earlier_id), False)
        else:
            raced.append(index)
    if raced:
        stored = event_ids_by_key(session, [rows[i]["idempotency_key"] for i in raced])
        found.update({i: (stored[rows[i]["idempotency_key"]], False) for i in raced})
    return [
        found[index] if index in found else (found[first[row["idempotency_key"]]][0], False)
        for index, row in enumerate(rows)
    ]


def moments_as_text() -> Callable[[datetime], str]:
    """What turns aware moments into the ISO text a JSON document of rows carries, each
    distinct moment once (a group repeats a few thousands of times); naive ones are refused."""
    moments: dict[datetime, str] = {}

    def moment(value: datetime) -> str:
        found = moments.get(value)
        if found is None:
            if value.utcoffset() is None:
                raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
            found = moments[value] = value.isoformat()
        return found

    return moment


# The volatile nextval() is evaluated after the ORDER BY (PostgreSQL postpones volatile
# target-list expressions past the sort): ids rise with the rows' order, as the engine,
# which works events in id order, needs. The final SELECT looks up (by the key's unique
# index) only the rows not stored, and reads the table as it was when the statement began:
# it finds keys stored before, not those of this statement.
_STORE_ONCE = """
WITH item AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('event', 'id')) AS id, r.n, r.customer_id, r.type,
           r.data, r.occurred_at, r.received_at, r.idempotency_key
    FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(n integer, customer_id integer,
         type text, data jsonb, occurred_at timestamptz, received_at timestamptz,
         idempotency_key text)
    ORDER BY r.n
), stored AS (
    INSERT INTO event (id, customer_id, type, data, occurred_at, received_at, idempotency_key)
    SELECT id, customer_id, type, data, occurred_at, received_at, idempotency_key
    FROM item ORDER BY n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), queued AS (
    INSERT INTO event_pending (event_id) SELECT id FROM stored
)
SELECT item.n, stored.id,
       CASE WHEN stored.id IS NULL THEN
           (SELECT earlier.id FROM event AS earlier
            WHERE earlier.idempotency_key = item.idempotency_key)
       END
FROM item LEFT JOIN stored ON stored.id = item.id
ORDER BY item.n
"""


_COLUMNS = ("customer_id", "type", "data", "occurred_at", "received_at", "idempotency_key")


@lru_cache(maxsize=1)
def _sqlite_insert() -> str:
    """The INSERT of `_COLUMNS` as the sqlite3 driver takes it (positional parameters)."""
    compiled = insert(event_table).compile(dialect=sqlite.dialect(), column_keys=list(_COLUMNS))
    return str(compiled)


def event_ids_by_key(session: Session, keys: list[str]) -> dict[str, int]:
    """The ids of the events stored under these idempotency keys."""
    driver = sqlite_driver(session)
    if driver is not None:  # inside the API's write turn: `store.sqlite_lookups`
        return {str(key): int(event_id) for key, event_id in rows_of_keys(driver, _IDS, keys)}
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


_IDS = """
    SELECT idempotency_key, id FROM event WHERE idempotency_key IN (SELECT value FROM json_each(?))
"""


def any_event_pending(session: Session) -> bool:
    """Whether the engine's queue holds an event: a read, taking no write lock."""
    return session.execute(select(pending_table.c.event_id).limit(1)).first() is not None


def claim_new_events(
    session: Session, limit: int, wanted: frozenset[str] | None = None
) -> list[EventRow]:
    """Events not worked yet (`event_pending`), oldest first, locked against other engines
    (SKIP LOCKED on the queue's rows). With `wanted`, only events of those types carry their
    data (the others read as `{}`): decoding the data of events no workflow looks at (a
    shop's page views, say) was a quarter of the engine's work on them."""
    e = event_table.c
    data: Any = e.data
    if wanted:
        data = type_coerce(case((e.type.in_(sorted(wanted)), e.data), else_=null()), e.data.type)
    elif wanted is not None:
        data = null()
    claimed = (
        select(pending_table.c.event_id)
        .order_by(pending_table.c.event_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # The events by their ids, never a join of the two tables: PostgreSQL's planner, on a
    # large event table with statistics a little behind, merged or hashed the whole of it
    # (61,171 rows read for 250 claimed: 17 ms, growing with the table; 0.5 ms by the ids).
    found = (
        e.id == any_(func.array(claimed.scalar_subquery()))
        if session.get_bind().dialect.name == "postgresql"
        else e.id.in_(claimed.scalar_subquery())
    )
    statement = select(e.id, e.customer_id, e.type, data, e.occurred_at).where(found).order_by(e.id)
    # by position: a mapping view per row cost more than the rest of reading it
    if wanted is None:
        return [EventRow(*row) for row in session.execute(statement)]
    return [
        EventRow(event_id, customer_id, kind, stored if kind in wanted else {}, occurred_at)
        for event_id, customer_id, kind, stored, occurred_at in session.execute(statement)
    ]


def mark_events_processed(session: Session, ids: list[int]) -> None:
    """Take the events off the engine's queue."""
    if ids:
        dialect = session.get_bind().dialect.name
        session.execute(
            delete(pending_table).where(one_of_ids(pending_table.c.event_id, ids, dialect))
        )


def events_of(session: Session, customer_id: int, since: datetime) -> list[EventRow]:
    e = event_table.c
    statement = (
        select(e.id, e.customer_id, e.type, e.data, e.occurred_at)
        .where(e.customer_id == customer_id, e.occurred_at >= since)
        .order_by(e.occurred_at, e.id)
    )
    return [EventRow(**row._mapping) for row in session.execute(statement)]
