"""Four dispatcher processes on one outbox: 10,000 mails, each delivered exactly once.

On PostgreSQL they claim with FOR UPDATE SKIP LOCKED; on SQLite each unit of work takes the
database's write lock as it begins, so claims wait for one another instead of colliding.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailengine.store.database import Database
from mailengine.store.outbox import count_by_state
from tests.databases import empty_tables
from tests.delivery.mass_send import (
    MessageIdRecorder,
    plan_for_consenting_customers,
    start_worker,
    write_note_template,
)
from tests.transport.conftest import start_server

MESSAGES = 10_000
WORKERS = 4


@pytest.mark.slow
async def test_four_dispatcher_processes_deliver_every_message_exactly_once(
    database: Database, tmp_path: Path
) -> None:
    expected = plan_for_consenting_customers(database, MESSAGES, datetime.now(UTC))
    templates = write_note_template(tmp_path / "templates")
    recorder = MessageIdRecorder()
    server = await start_server(recorder)
    try:
        workers = [
            await start_worker(
                tmp_path,
                f"worker-{n}",
                database.url,
                server.port,
                templates,
                "--connections=2",
                "--per-domain-connections=2",  # every recipient is at example.com
                "--batch-size=50",
            )
            for n in range(WORKERS)
        ]
        reports = [await worker.finish(within=55) for worker in workers]
    finally:
        await server.close()

    arrivals = Counter(recorder.arrivals)
    assert len(recorder.arrivals) == MESSAGES
    assert set(arrivals) == set(expected.items())  # each recipient, with their Message-ID
    assert max(arrivals.values()) == 1
    assert sum(report["sent"] for report in reports) == MESSAGES
    assert all(report["sent"] > 0 for report in reports)  # the work was really shared
    with database.session() as session:
        assert count_by_state(session) == {"sent": MESSAGES}
    if database.is_postgresql:
        empty_tables(database)
