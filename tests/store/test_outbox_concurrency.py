"""Several dispatcher processes claiming from one PostgreSQL outbox take every row exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta

import pytest

from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, count_by_state, plan_sends, record_outcomes
from mailengine.store.records import PlannedSend, SendOutcome
from tests.conftest import NOW
from tests.databases import empty_tables

pytestmark = pytest.mark.postgres


def _claim_until_empty(url: str, worker: str, results: multiprocessing.Queue[list[int]]) -> None:
    database = Database(url)
    mine: list[int] = []
    while True:
        with database.transaction() as session:
            claimed = claim_due(session, worker, NOW, limit=25, lease=timedelta(minutes=5))
        if not claimed:
            break
        with database.transaction() as session:
            record_outcomes(session, worker, [SendOutcome(c.id, "sent", 250) for c in claimed], NOW)
        mine.extend(c.id for c in claimed)
    database.dispose()
    results.put(mine)


def test_four_processes_claim_each_message_exactly_once(postgres_url: str) -> None:
    database = Database(postgres_url)
    empty_tables(database)
    sends = [
        PlannedSend(
            idempotency_key=f"vip:1:{n}:0",
            workflow="vip",
            step="1",
            customer_id=None,
            recipient=f"c{n}@example.com",
            template="vip/welcome-to-vip",
            subject="You are VIP",
            message_id=f"<{n}@shop.example>",
        )
        for n in range(3000)
    ]
    with database.transaction() as session:
        assert plan_sends(session, sends, NOW) == 3000
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[int]] = context.Queue()
    workers = [
        context.Process(target=_claim_until_empty, args=(postgres_url, f"w{n}", results))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    claimed_lists = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    seen = Counter(outbox_id for claimed in claimed_lists for outbox_id in claimed)
    assert len(seen) == 3000
    assert max(seen.values()) == 1
    assert sum(1 for claimed in claimed_lists if claimed) >= 2  # the work was really shared
    with database.session() as session:
        assert count_by_state(session) == {"sent": 3000}
    empty_tables(database)
    database.dispose()
