"""A batch of events is worked set-based with the outcome of working them one by one: exit
goals, data filters, audiences and re-entry as each event in turn would have seen them, and a
broken event skipped without stopping the others."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.engine import enrolling
from mailengine.store import engine_queries
from mailengine.store.database import Database
from mailengine.store.enrollments import enrollment_table
from mailengine.store.events import event_table, pending_table, record_event
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Workflow
from tests.conftest import NOW
from tests.engine.harness import EngineHarness

TOUR = """name: tour
description: Online visitors get a tour, once; leaving ends it.
trigger: {event: test.visit, where: {channel: online}}
exit_when: {event: test.left}
reenter: never
steps:
  - send: win-back/we-miss-you
    subject: "The tour"
  - wait: 3 days
  - send: win-back/coupon
    subject: "The tour, part two"
"""
AGAIN = """name: again
description: Every visit, from anywhere, gets a note.
trigger: {event: test.visit}
reenter: always
steps:
  - send: win-back/we-miss-you
    subject: "A note"
"""
# (customer, event type, data): mixed types; data that is no object is a broken event.
SCENARIO: list[tuple[str, str, Any]] = [
    ("ann", "test.visit", {"channel": "online"}),  # enters both
    ("bob", "test.visit", {"channel": "online"}),  # no consent: outside both audiences
    ("ann", "test.left", {}),  # leaves the tour she just entered
    ("cat", "test.visit", {"channel": "online"}),  # in the tour before: kept out of it
    ("dan", "test.visit", {"channel": "shop"}),  # the tour's filter says no
    ("dan", "test.visit", [1, 2]),  # broken: skipped whole
    ("ann", "test.visit", {"channel": "online"}),  # the tour never takes her back
    ("eve", "test.left", {}),  # nothing to leave yet
    ("eve", "test.visit", {"channel": "online"}),  # so she enters
    ("eve", "test.order", {"channel": "online"}),  # no workflow listens
]
PEOPLE = ("ann", "bob", "cat", "dan", "eve")


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "tour.yaml").write_text(TOUR, encoding="utf-8")
    (folder / "again.yaml").write_text(AGAIN, encoding="utf-8")
    return folder


def people(shop: EngineHarness, suffix: str) -> dict[str, int]:
    """The scenario's customers (bob without consent), cat already once in the tour."""
    ids = {
        name: shop.customer(
            f"{name}{suffix}@example.com",
            name.title(),
            consent="withdrawn" if name == "bob" else "granted",
        )
        for name in PEOPLE
    }
    store(shop, ids, [("cat", "test.visit", {"channel": "online"})])
    shop.runner.process_events(shop.clock.now())
    return ids


def store(shop: EngineHarness, ids: dict[str, int], events: Iterable[tuple[str, str, Any]]) -> None:
    now = shop.clock.now()
    with shop.database.transaction() as session:
        for name, event_type, data in events:
            record_event(session, ids[name], event_type, data, now, now)


def outcome(database: Database, ids: dict[str, int]) -> set[tuple[str, str, int, str, str]]:
    """(workflow, customer, n-th event of the scenario or -1 before it, state, note) of each
    enrollment of these customers."""
    names = {customer_id: name for name, customer_id in ids.items()}
    n, e = enrollment_table.c, event_table.c
    with database.session() as session:
        events = session.execute(
            select(e.id).where(e.customer_id.in_(names)).order_by(e.id)
        ).scalars()
        position = {f"event:{event_id}": index - 1 for index, event_id in enumerate(events)}
        rows = session.execute(
            select(n.workflow, n.customer_id, n.occurrence, n.state, n.note).where(
                n.customer_id.in_(names)
            )
        ).all()
    return {
        (row.workflow, names[row.customer_id], position[row.occurrence], row.state, row.note or "")
        for row in rows
    }


def unprocessed(database: Database) -> int:
    with database.session() as session:
        return len(session.execute(select(pending_table.c.event_id)).scalars().all())


async def test_a_batch_enrolls_exactly_as_one_by_one(database: Database, workflows: Path) -> None:
    shop = EngineHarness(database, FrozenClock(NOW), workflows=workflows)
    together, alone = people(shop, ""), people(shop, ".alone")
    store(shop, together, SCENARIO)
    assert shop.runner.process_events(shop.clock.now()) == len(SCENARIO)
    store(shop, alone, SCENARIO)
    while shop.runner.process_events(shop.clock.now(), limit=1):
        pass
    assert unprocessed(database) == 0
    expected = {
        ("tour", "ann", 0, "exited", "exit goal: test.left"),
        ("again", "ann", 0, "active", ""),
        ("again", "ann", 6, "active", ""),
        ("tour", "cat", -1, "active", ""),
        ("again", "cat", -1, "active", ""),
        ("again", "cat", 3, "active", ""),
        ("again", "dan", 4, "active", ""),
        ("tour", "eve", 8, "active", ""),
        ("again", "eve", 8, "active", ""),
    }
    assert outcome(database, together) == expected
    assert outcome(database, alone) == expected
    await shop.tick()  # the enrolled plan and send their first mail; bob gets nothing
    firsts = {mail.to for mail in shop.received}
    assert firsts == {f"{name}{suffix}@example.com" for name in ("ann", "cat", "dan", "eve")
                      for suffix in ("", ".alone")}  # fmt: skip


async def test_a_batch_that_fails_is_worked_event_by_event(
    database: Database,
    workflows: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database error on one customer's event rolls the batch back; worked again one by one,
    only that event is lost."""
    shop = EngineHarness(database, FrozenClock(NOW), workflows=workflows)
    ids = people(shop, "")
    asked = engine_queries.customers_in_audience

    def failing_for_dan(
        session: Any, workflow: Workflow, customer_ids: Iterable[int], context: AudienceContext
    ) -> set[int]:
        wanted = set(customer_ids)
        if ids["dan"] in wanted:
            raise RuntimeError("the database refused dan")
        return asked(session, workflow, wanted, context)

    monkeypatch.setattr(enrolling, "customers_in_audience", failing_for_dan)
    visits = [(name, "test.visit", {"channel": "online"}) for name in ("ann", "dan", "eve")]
    store(shop, ids, visits)
    with caplog.at_level(logging.WARNING):
        assert shop.runner.process_events(shop.clock.now()) == 3
    assert unprocessed(database) == 0
    assert {(workflow, name) for workflow, name, *_ in outcome(database, ids)} == {
        ("tour", "ann"), ("again", "ann"), ("tour", "eve"), ("again", "eve"),
        ("tour", "cat"), ("again", "cat"),
    }  # fmt: skip
    assert "3 events failed together" in caplog.text
    assert caplog.text.count("could not be processed") == 1


def test_rounds_keep_each_keys_order() -> None:
    items = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 2)]
    assert enrolling.rounds(items, key=lambda item: item[0]) == [
        [("a", 1), ("b", 1), ("c", 1)],
        [("a", 2), ("b", 2)],
        [("a", 3)],
    ]
