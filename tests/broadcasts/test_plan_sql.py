"""Planning a broadcast inside the database: who is in, which variant, which Message-ID."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event, insert, select, text

from mailengine.broadcasts.model import bucket_of, split_coefficients
from mailengine.message_ids import keyed_message_id
from mailengine.store.broadcast_plan import (
    BroadcastPlan,
    ContactCap,
    DueTimes,
    PlanCell,
    chunk_end,
    customer_ids_max,
    plan_chunk,
    preference_table,
)
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from mailengine.store.suppressions import suppress
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Comparison
from tests.conftest import NOW

SECRET = b"s" * 32
DOMAIN = "shop.example"
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", None, "Not/AZone"]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _shop(database: Database, count: int) -> dict[str, int]:
    granted = ConsentStatement(status="granted", source="checkout", recorded_at=NOW)
    records = [
        CustomerUpsert(
            email=f"c{n}@example.com",
            fields={"city": "Wien" if n % 3 == 0 else "Berlin", "timezone": ZONES[n % 5]},
            consent=granted if n % 10 != 9 else None,
        )
        for n in range(count)
    ]
    with database.transaction() as session:
        return upsert_customers(session, records, NOW).customer_ids


def _plan(**changes: object) -> BroadcastPlan:
    cells = [
        PlanCell("A", 0, 1000, "news/a", "Subject A", "pre A", {"variant": "A"}),
        PlanCell("B", 1000, 2000, "news/b", "Subject B", None, {"variant": "B"}),
    ]
    values: dict[str, object] = {
        "workflow_key": "broadcast:sale",
        "version": "v1",
        "audience": None,
        "context": AudienceContext(NOW, ZoneInfo("Europe/Berlin")),
        "topic": "newsletter",
        "cells": cells,
        "coefficients": split_coefficients(SECRET, "sale"),
        "secret": SECRET,
        "domain": DOMAIN,
    }
    values.update(changes)
    return BroadcastPlan(**values)  # type: ignore[arg-type]


def _rows(database: Database) -> list[dict[str, object]]:
    o = outbox_table.c
    with database.session() as session:
        found = session.execute(select(outbox_table).order_by(o.customer_id)).mappings()
        return [dict(row) for row in found]


def test_each_customer_lands_in_their_variant_with_their_keyed_message_id(
    database: Database,
) -> None:
    ids = _shop(database, 400)
    plan = _plan()
    with database.transaction() as session:
        top = customer_ids_max(session)
        created = plan_chunk(session, plan, 0, top, DueTimes(NOW), NOW)
    rows = _rows(database)
    assert created == len(rows) > 0
    consenting = {cid for email, cid in ids.items() if int(email[1:].split("@")[0]) % 10 != 9}
    in_test = {cid for cid in consenting if bucket_of(cid, plan.coefficients) < 2000}
    assert {row["customer_id"] for row in rows} == in_test
    for row in rows:
        bucket = bucket_of(int(str(row["customer_id"])), plan.coefficients)
        variant = "A" if bucket < 1000 else "B"
        assert row["step"] == variant
        assert row["subject"] == f"Subject {variant}"
        assert row["payload"] == {"variant": variant}
        assert row["idempotency_key"] == f"broadcast:sale:{row['customer_id']}"
        assert row["message_id"] == keyed_message_id(SECRET, DOMAIN, str(row["idempotency_key"]))
        assert (row["state"], row["kind"], row["next_attempt_at"]) == ("queued", "marketing", NOW)
    # About a fifth of 360 consenting customers is in the test cells.
    assert 40 <= len(rows) <= 110


def test_planning_again_adds_nobody(database: Database) -> None:
    _shop(database, 200)
    whole = _plan(cells=[PlanCell("all", 0, 10_000, "news/a", "Hi", None, {})])
    with database.transaction() as session:
        first = plan_chunk(session, whole, 0, 100, DueTimes(NOW), NOW)
        second = plan_chunk(session, whole, 0, 10_000, DueTimes(NOW), NOW)
        again = plan_chunk(session, whole, 0, 10_000, DueTimes(NOW), NOW)
    assert first > 0
    assert first + second == 180
    assert again == 0


def test_suppressed_opted_out_and_capped_customers(database: Database) -> None:
    ids = _shop(database, 20)
    whole = _plan(cells=[PlanCell("all", 0, 10_000, "news/a", "Hi", None, {})])
    with database.transaction() as session:
        suppress(session, "c1@example.com", "unsubscribe", NOW, "link")
        session.execute(
            insert(preference_table).values(
                customer_id=ids["c2@example.com"],
                topic="newsletter",
                subscribed=False,
                updated_at=NOW,
            )
        )
        recent = [
            PlannedSend(
                idempotency_key=f"w:{n}",
                workflow="welcome",
                step="s",
                message_id=f"<{n}@x>",
                customer_id=ids["c3@example.com"],
                recipient="c3@example.com",
                template="t",
                subject="s",
            )
            for n in range(3)
        ]
        plan_sends(session, recent, NOW - timedelta(days=1))
        cap = ContactCap(3, NOW - timedelta(days=7), "contact pressure: 3 in 7 days")
        plan_chunk(session, _plan(cells=whole.cells, cap=cap), 0, 10_000, DueTimes(NOW), NOW)
    rows = {row["customer_id"]: row for row in _rows(database) if row["workflow"] != "welcome"}
    assert ids["c1@example.com"] not in rows
    assert ids["c2@example.com"] not in rows
    assert ids["c9@example.com"] not in rows  # no consent
    capped = rows[ids["c3@example.com"]]
    assert capped["state"] == "suppressed"
    assert capped["last_reply"] == "contact pressure: 3 in 7 days"
    assert {row["state"] for cid, row in rows.items() if cid != ids["c3@example.com"]} == {"queued"}


def test_due_times_by_time_zone_and_an_audience(database: Database) -> None:
    ids = _shop(database, 30)
    tokyo = NOW + timedelta(hours=1)
    due = DueTimes(NOW, {"Asia/Tokyo": tokyo, "Europe/Berlin": NOW})
    vienna = Comparison("city", "eq", "Wien")
    whole = _plan(cells=[PlanCell("all", 0, 10_000, "news/a", "Hi", None, {})], audience=vienna)
    with database.transaction() as session:
        plan_chunk(session, whole, 0, 10_000, due, NOW)
    rows = _rows(database)
    numbers = {cid: int(email[1:].split("@")[0]) for email, cid in ids.items()}
    wien = {cid for cid, n in numbers.items() if n % 3 == 0 and n % 10 != 9}
    assert {row["customer_id"] for row in rows} == wien
    for row in rows:
        n = int(str(row["recipient"])[1:].split("@")[0])
        assert row["next_attempt_at"] == (tokyo if ZONES[n % 5] == "Asia/Tokyo" else NOW)


def test_chunk_end_counts_audience_members(database: Database) -> None:
    _shop(database, 50)
    whole = _plan(cells=[PlanCell("all", 0, 10_000, "news/a", "Hi", None, {})])
    with database.session() as session:
        first = chunk_end(session, whole, 0, 10)
        assert first is not None
        with database.transaction() as writing:
            assert plan_chunk(writing, whole, 0, first, DueTimes(NOW), NOW) == 10
        assert chunk_end(session, whole, 10_000, 10) is None


def test_on_sqlite_a_chunk_journals_its_statement_to_a_file_and_the_setting_comes_back(
    tmp_path: Path,
) -> None:
    # The journal of a chunk's statement grows with its rows; in memory it would count
    # against the engine's memory (temp_store 1 = FILE, 2 = MEMORY, the connections' own).
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    database.upgrade()
    _shop(database, 20)
    whole = _plan(cells=[PlanCell("all", 0, 10_000, "news/a", "Hi", None, {})])
    seen: list[int] = []

    def note(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO outbox"):
            raw = connection.connection.driver_connection
            seen.append(raw.execute("PRAGMA temp_store").fetchone()[0])

    event.listen(database.engine, "before_cursor_execute", note)
    with database.session() as session:  # the temporary database in use on the connection
        session.execute(text("CREATE TEMP TABLE scratch (n INTEGER)"))
        session.commit()
    with database.bulk_transaction() as session:
        assert plan_chunk(session, whole, 0, 10_000, DueTimes(NOW), NOW) == 18
    with database.session() as session:
        after = session.execute(text("PRAGMA temp_store")).scalar_one()
    assert (seen, after) == ([1], 2)
    assert len(_rows(database)) == 18
    database.dispose()
