"""Stored schedule jobs written before the scheduler and the cron trigger moved still run.

A job is stored as APScheduler stores it (a pickle naming `mailengine.scheduler:run_schedule`
and `mailengine.cron_trigger.CrontabTrigger`), with a fire that was due while the engine was
down; after `mailengine db upgrade` the job store reads it with that fire still pending.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailengine.cron import CrontabTrigger
from mailengine.engine.scheduler import JOB_TABLE, GuardedJobStore, run_schedule
from mailengine.store.database import Database
from tests.databases import postgres_unavailable_reason, scratch_postgres_database

BERLIN = ZoneInfo("Europe/Berlin")
MISSED_FIRE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
# Where the trigger class lived before the move, as protocol 2 writes it (a GLOBAL opcode);
# the trigger pickles its expression as text.
OLD_NAMES = {
    b"cmailengine.cron.trigger\nCrontabTrigger\n": b"cmailengine.cron_trigger\nCrontabTrigger\n",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:
        yield url


def old_job_state() -> bytes:
    """A weekly newsletter job as the previous layout pickled it."""
    scheduler = AsyncIOScheduler(timezone=BERLIN)
    job = scheduler.add_job(
        run_schedule,
        CrontabTrigger("0 9 * * 1", BERLIN),
        args=("newsletter", "0 9 * * 1", BERLIN.key),
        id="workflow:newsletter",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=MISSED_FIRE,
    )
    state = job.__getstate__()
    state["func"] = "mailengine.scheduler:run_schedule"
    data = pickle.dumps(state, protocol=2)
    for new, old in OLD_NAMES.items():
        assert data.count(new) == 1, new
        data = data.replace(new, old)
    return data


def test_a_job_stored_before_the_move_keeps_its_missed_fire(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.upgrade("0005")
        store = GuardedJobStore(database_url, lambda: True)
        store.jobs_t.create(database.engine)
        with database.engine.begin() as connection:
            connection.execute(
                sa.insert(store.jobs_t).values(
                    id="workflow:newsletter",
                    next_run_time=MISSED_FIRE.timestamp(),
                    job_state=old_job_state(),
                )
            )

        database.upgrade()

        jobs = store.get_all_jobs()
        store.shutdown()
    finally:
        database.dispose()
    assert [job.id for job in jobs] == ["workflow:newsletter"]
    (job,) = jobs
    assert job.func is run_schedule
    assert job.args == ("newsletter", "0 9 * * 1", "Europe/Berlin")
    assert isinstance(job.trigger, CrontabTrigger)
    assert job.trigger.expression.text == "0 9 * * 1"
    assert job.next_run_time == MISSED_FIRE
    assert job.trigger.get_next_fire_time(None, MISSED_FIRE) == MISSED_FIRE
    following = job.trigger.get_next_fire_time(MISSED_FIRE, MISSED_FIRE)
    assert following == datetime(2026, 12, 14, 9, 0, tzinfo=BERLIN)


def test_an_engine_that_never_ran_has_no_jobs_to_move(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        database.upgrade()
        assert not sa.inspect(database.engine).has_table(JOB_TABLE)
        database.check_schema()  # at the head, past 0006, with no job table to rewrite
    finally:
        database.dispose()
