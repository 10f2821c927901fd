"""Four dispatcher processes on one outbox: 2,000 mails, each delivered exactly once.

2,000 mails are 40 claims of 50 among four processes started at once, each sending on
two connections: every claim still races three other processes, and each process must
send some (10,000 proved no more and took 20-30 s of the suite per database).

On PostgreSQL they claim with FOR UPDATE SKIP LOCKED; on SQLite each unit of work takes the
database's write lock as it begins, so claims wait for one another instead of colliding.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mailengine.store.database import Database
from mailengine.store.outbox import count_by_state
from tests.conftest import NOW
from tests.delivery.mass_send import (
    MessageIdRecorder,
    Workers,
    plan_for_consenting_customers,
    write_note_template,
)
from tests.transport.conftest import start_server
from tests.waiting import until_done

MESSAGES = 2_000
WORKERS = 4


@pytest.mark.slow
async def test_four_dispatcher_processes_deliver_every_message_exactly_once(
    database: Database, tmp_path: Path
) -> None:
    expected = plan_for_consenting_customers(database, MESSAGES, NOW)
    templates = write_note_template(tmp_path / "templates")
    recorder = MessageIdRecorder()
    server = await start_server(recorder)
    try:
        async with Workers(tmp_path, database.url, server.port, templates) as workers:
            started = [
                await workers.start(
                    f"worker-{n}",
                    "--connections=2",
                    "--per-domain-connections=2",  # every recipient is at example.com
                    "--batch-size=50",
                )
                for n in range(WORKERS)
            ]
            await workers.go()  # all four set up: none can take the whole outbox alone
            await until_done(
                lambda: len(recorder.arrivals), MESSAGES, "arrivals", failed=workers.trouble
            )
            reports = [await worker.finish() for worker in started]
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
