"""PostgreSQL reads what a hot statement needs by index, however large the tables have grown
and whatever the planner's statistics say of them: the engine's claim of queued events, and a
group of API requests' lookup of their Idempotency-Keys. Both once read their whole table
(a merge or hash join): milliseconds at a few thousand rows, growing with every event and
request a shop ever sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, event

from mailengine.store.customers import ensure_customers
from mailengine.store.database import Database
from mailengine.store.events import claim_new_events, pending_table, store_events_once
from mailengine.store.pipelined import _ANSWERS
from tests.conftest import NOW


@pytest.fixture
def postgresql(database: Database) -> Database:
    if not database.is_postgresql:
        pytest.skip("SQLite looks these up by index (rowid, unique key) whatever it knows")
    return database


def _rows_read(plan: dict[str, Any], table: str) -> int:
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", []))


def _explained(database: Database, statement: str, parameters: Any) -> dict[str, Any]:
    with database.engine.connect() as connection:
        found = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).scalar_one()
    plan: dict[str, Any] = found[0]["Plan"]
    return plan


def test_a_claim_reads_the_claimed_events_not_the_whole_table(postgresql: Database) -> None:
    database = postgresql
    with database.transaction() as session:
        ann = ensure_customers(session, ["ann@example.com"], NOW)["ann@example.com"]
    row = {"customer_id": ann, "type": "page.viewed", "data": {}, "occurred_at": NOW,
           "received_at": NOW, "idempotency_key": None}  # fmt: skip
    with database.transaction() as session:
        store_events_once(session, [row] * 20_000)
        session.execute(delete(pending_table))  # worked
        store_events_once(session, [row] * 5)
    executed: list[tuple[str, Any]] = []

    def remember(_c: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        executed.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", remember)
    try:
        with database.transaction() as session:
            assert len(claim_new_events(session, 500, frozenset({"signup"}))) == 5
    finally:
        event.remove(database.engine, "before_cursor_execute", remember)
    statement, parameters = next(pair for pair in executed if "event_pending" in pair[0])
    assert _rows_read(_explained(database, statement, parameters), "event") <= 5


def test_idempotency_keys_are_looked_up_not_the_whole_table(postgresql: Database) -> None:
    database = postgresql
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO api_request (client, idempotency_key, endpoint, request_hash,"
            " status_code, response, created_at) SELECT 'shop', 'key-' || n, 'POST /v1/events',"
            " 'hash', 202, '{}', now() FROM generate_series(1, 20000) AS n"
        )
    keys = [{"client": "shop", "key": f"key-{n}"} for n in (5, 700, 19_999)]
    keys += [{"client": "shop", "key": f"new-{n}"} for n in range(10)]
    plan = _explained(database, _ANSWERS, {"keys": json.dumps(keys)})
    assert plan["Actual Rows"] == 3
    assert _rows_read(plan, "api_request") <= 3
