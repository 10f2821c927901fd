"""Idempotency answers found and stored a group at a time, in the driver's own SQL, on SQLite
and PostgreSQL: what is stored reads back as the ORM's rows do, a key stored twice fails on
the unique index, and the lookup is served by that index."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailengine.store import request_answers
from mailengine.store.api_queries import StoredAnswer, api_request_table, reserve_idempotency_key
from mailengine.store.customers import ensure_customers
from mailengine.store.database import Database
from mailengine.store.event_intake import IncomingEvent, store_events
from mailengine.store.request_answers import NewAnswer, insert_answers, stored_answers
from mailengine.store.sqlite_lookups import sqlite_driver
from tests.conftest import NOW

SHOP, OTHER = "s" * 64, "o" * 64
ENDPOINT = "POST /v1/events"


def _answer(client: str, key: str, customer_id: int | None = None) -> NewAnswer:
    body = {"event_id": 7, "note": "Grüße ✓", "nested": {"list": [1, None]}}
    return NewAnswer(client, key, f"hash-{key}", 202, body, customer_id)


def test_stored_answers_read_back_as_the_orm_rows(database: Database) -> None:
    with database.transaction() as session:
        customer_id = ensure_customers(session, ["ann@example.com"], NOW)["ann@example.com"]
        insert_answers(session, [_answer(SHOP, "k1", customer_id), _answer(OTHER, "k1")],
                       ENDPOINT, NOW)  # fmt: skip
        insert_answers(session, [_answer(SHOP, f"many-{n}") for n in range(1500)], ENDPOINT, NOW)
    with database.session() as session:
        rows = {
            (row.client, row.idempotency_key): row
            for row in session.execute(select(api_request_table))
        }
        found = stored_answers(
            session, [(SHOP, "k1"), (SHOP, "k1"), (SHOP, "unknown"), (OTHER, "k1")]
            + [(SHOP, f"many-{n}") for n in range(1500)]
        )  # fmt: skip
        # The single-request path reads what the group path stored.
        reserved = reserve_idempotency_key(session, SHOP, "k1", ENDPOINT, "x", NOW)
    body = _answer(SHOP, "k1").response
    assert found[(SHOP, "k1")] == StoredAnswer(ENDPOINT, "hash-k1", 202, body)
    assert reserved == StoredAnswer(ENDPOINT, "hash-k1", 202, body)
    assert (SHOP, "unknown") not in found and (OTHER, "k1") in found
    assert len(found) == 2 + 1500
    row = rows[(SHOP, "k1")]
    assert (row.created_at, row.customer_id, row.response) == (NOW, customer_id, body)
    assert rows[(OTHER, "k1")].customer_id is None


def test_a_key_stored_before_fails_on_the_unique_index(database: Database) -> None:
    with database.transaction() as session:
        insert_answers(session, [_answer(SHOP, "k1")], ENDPOINT, NOW)
    with pytest.raises(IntegrityError), database.transaction() as session:
        insert_answers(session, [_answer(SHOP, "k2"), _answer(SHOP, "k1")], ENDPOINT, NOW)
    with database.session() as session:
        assert set(stored_answers(session, [(SHOP, "k1"), (SHOP, "k2")])) == {(SHOP, "k1")}


def test_a_retried_key_is_replayed_and_a_reused_one_refused_in_later_groups(
    database: Database,
) -> None:
    def event(key: str, sku: str) -> IncomingEvent:
        return IncomingEvent(
            client=SHOP, request_key=key, request_hash=sku, email="a@example.com",
            type="product.viewed", data={"sku": sku}, occurred_at=NOW,
            event_key=f"event:{SHOP[:16]}:{key}",
        )  # fmt: skip

    with database.transaction() as session:
        first = store_events(session, [event("k1", "one"), event("k2", "two")], ENDPOINT, NOW)
    with database.transaction() as session:
        again = store_events(
            session, [event("k2", "two"), event("k1", "other"), event("k3", "three")], ENDPOINT,
            NOW,
        )  # fmt: skip
    assert [(a.status_code, a.replayed) for a in again] == [(202, True), (409, False),
                                                             (202, False)]  # fmt: skip
    assert again[0].body == first[1].body
    with database.session() as session:
        keys = session.execute(select(api_request_table.c.idempotency_key)).scalars().all()
    assert sorted(keys) == ["k1", "k2", "k3"]


def test_the_lookup_uses_the_unique_index_on_sqlite(sqlite_database: Database) -> None:
    """A row-value IN read the whole table of answers (a day's requests) once per group."""
    seen: list[str] = []
    with sqlite_database.session() as session:
        driver = sqlite_driver(session)
        assert driver is not None
        driver.set_trace_callback(seen.append)
        stored_answers(session, [(SHOP, "k1"), (SHOP, "k2"), (OTHER, "k3")])
        driver.set_trace_callback(None)
        plan = " ".join(
            str(step[-1])
            for step in driver.execute(
                "EXPLAIN QUERY PLAN " + request_answers._ANSWERS_SQLITE, (SHOP, '["k1", "k2"]')
            )
        )
    lookups = [statement for statement in seen if "FROM api_request" in statement]
    assert len(lookups) == 2  # one lookup per client, the one whose plan is read here
    head = request_answers._ANSWERS_SQLITE.strip().splitlines()[0]
    assert all(lookup.strip().startswith(head) for lookup in lookups)
    assert "USING INDEX" in plan and "SCAN api_request" not in plan, plan
