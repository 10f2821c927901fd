"""Many events stored at once, each once under its key (`store_events_once`): on SQLite
(lookups, then one INSERT) and on PostgreSQL (one statement), with the same answers."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from mailengine.store.customers import ensure_customers
from mailengine.store.database import Database
from mailengine.store.events import event_table, insert_events, store_events_once
from tests.conftest import NOW


def _customers(database: Database, count: int) -> list[int]:
    with database.transaction() as session:
        found = ensure_customers(session, [f"c{n}@example.com" for n in range(count)], NOW)
    return list(found.values())


def _row(customer_id: int, number: int, key: str | None) -> dict[str, Any]:
    return {
        "customer_id": customer_id, "type": "product.viewed", "data": {"n": number},
        "occurred_at": NOW, "received_at": NOW, "idempotency_key": key,
    }  # fmt: skip


def _stored(database: Database) -> dict[int, dict[str, Any]]:
    e = event_table.c
    with database.session() as session:
        rows = session.execute(select(e.id, e.customer_id, e.data, e.idempotency_key))
        return {row.id: dict(row._mapping) for row in rows}


def test_a_thousand_rows_get_rising_ids_in_their_order(database: Database) -> None:
    customers = _customers(database, 300)
    random.Random(4).shuffle(customers)  # rows not in the order of their customers
    rows = [_row(customers[n % 300], n, f"k{n}" if n % 3 else None) for n in range(1000)]
    with database.transaction() as session:
        stored = store_events_once(session, rows)
    ids = [event_id for event_id, _ in stored]
    assert all(new for _, new in stored)
    assert ids == sorted(ids) and len(set(ids)) == 1000  # the engine works them in this order
    table = _stored(database)
    assert [table[event_id]["data"] for event_id in ids] == [{"n": n} for n in range(1000)]
    assert [table[i]["customer_id"] for i in ids] == [customers[n % 300] for n in range(1000)]


def test_keys_stored_before_or_earlier_in_the_rows_are_not_stored_again(
    database: Database,
) -> None:
    [ann, bob] = _customers(database, 2)
    with database.transaction() as session:
        [(first_id, first_new)] = store_events_once(session, [_row(ann, 0, "shop:1")])
    rows = [
        _row(bob, 1, "shop:2"), _row(ann, 2, "shop:1"), _row(bob, 3, None),
        _row(ann, 4, "shop:2"), _row(bob, 5, None),
    ]  # fmt: skip
    with database.transaction() as session:
        stored = store_events_once(session, rows)
    assert first_new
    second_id = stored[0][0]
    assert [new for _, new in stored] == [True, False, True, False, True]
    assert stored[1] == (first_id, False)  # replay of a key stored before
    assert stored[3] == (second_id, False)  # the first of a key repeated in the rows won
    table = _stored(database)
    assert len(table) == 4
    assert table[second_id]["data"] == {"n": 1} and table[first_id]["data"] == {"n": 0}
    assert stored[0][0] < stored[2][0] < stored[4][0]  # rising in the rows' order
    with database.transaction() as session:  # all of them again: only the keyless are new
        again = store_events_once(session, rows)
    replayed = [(second_id, False), (first_id, False), (second_id, False)]
    assert [again[i] for i in (0, 1, 3)] == replayed
    assert again[2][1] is True and again[4][1] is True
    assert len(_stored(database)) == 6


def test_insert_events_refuses_a_taken_key(database: Database) -> None:
    [ann] = _customers(database, 1)
    with database.transaction() as session:
        insert_events(session, [_row(ann, 0, "taken")])
    with pytest.raises(Exception), database.transaction() as session:  # noqa: B017, PT011
        insert_events(session, [_row(ann, 1, "taken")])
    assert len(_stored(database)) == 1


def test_a_key_another_transaction_stores_meanwhile_answers_its_event(
    database: Database,
) -> None:
    """PostgreSQL: another transaction holds an uncommitted event under one of the keys; the
    statement waits for it (ON CONFLICT), skips the row once it commits, and answers the
    other's event id, which the statement's own snapshot cannot see."""
    if not database.is_postgresql:
        pytest.skip("SQLite's writers take the lock before they read: no such race")
    [ann] = _customers(database, 1)
    other = database.engine.connect()
    other.execute(
        text(
            "INSERT INTO event (customer_id, type, data, occurred_at, received_at,"
            " idempotency_key) VALUES (:c, 'x', '{}', now(), now(), 'raced') RETURNING id"
        ),
        {"c": ann},
    )
    [raced_id] = other.execute(text("SELECT id FROM event WHERE idempotency_key = 'raced'"))
    committer = threading.Timer(0.3, other.commit)
    committer.start()
    started = time.monotonic()
    try:
        with database.transaction() as session:
            stored = store_events_once(session, [_row(ann, 1, "mine"), _row(ann, 2, "raced")])
    finally:
        committer.join()
        other.close()
    assert time.monotonic() - started >= 0.25  # it waited for the other transaction
    assert stored[0][1] is True and stored[1] == (raced_id.id, False)
    assert len(_stored(database)) == 2
