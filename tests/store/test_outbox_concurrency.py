"""Several dispatcher processes claiming from one PostgreSQL outbox take every row exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from multiprocessing.synchronize import Barrier

import pytest

from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, count_by_state, plan_sends, record_outcomes
from mailengine.store.records import PlannedSend, SendOutcome
from tests.conftest import NOW
from tests.databases import empty_tables, opened_database
from tests.waiting import PATIENCE

pytestmark = pytest.mark.postgres


def _claim_until_empty(
    url: str, worker: str, start: Barrier, results: multiprocessing.Queue[list[int]]
) -> None:
    database = Database(url)
    mine: list[int] = []
    try:
        start.wait(PATIENCE)  # every process imported and connected: all claim from the start
        while True:
            with database.transaction() as session:
                claimed = claim_due(session, worker, NOW, limit=25, lease=timedelta(minutes=5))
            if not claimed:
                break
            with database.transaction() as session:
                outcomes = [SendOutcome(c.id, "sent", 250) for c in claimed]
                record_outcomes(session, worker, outcomes, NOW)
            mine.extend(c.id for c in claimed)
    finally:
        database.dispose()
    results.put(mine)


def test_four_processes_claim_each_message_exactly_once(postgres_url: str) -> None:
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
    with opened_database(postgres_url) as database:
        empty_tables(database)
        with database.transaction() as session:
            assert plan_sends(session, sends, NOW) == 3000
        try:
            claimed_lists = _claim_in_four_processes(postgres_url)
            with database.session() as session:
                assert count_by_state(session) == {"sent": 3000}
        finally:
            empty_tables(database)  # the next test on this database starts from nothing
        seen = Counter(outbox_id for claimed in claimed_lists for outbox_id in claimed)
        assert len(seen) == 3000
        assert max(seen.values()) == 1
        assert sum(1 for claimed in claimed_lists if claimed) >= 2  # the work was really shared


def _claim_in_four_processes(url: str) -> list[list[int]]:
    """What each of four processes claimed; none outlives this call, whatever happens."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[int]] = context.Queue()
    start = context.Barrier(4)
    workers = [
        context.Process(target=_claim_until_empty, args=(url, f"w{n}", start, results))
        for n in range(4)
    ]
    try:
        for worker in workers:
            worker.start()
        claimed = [results.get(timeout=PATIENCE) for _ in workers]
        for worker in workers:
            worker.join(PATIENCE)
        assert [worker.exitcode for worker in workers] == [0] * 4
        return claimed
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
