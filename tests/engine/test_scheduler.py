"""Schedules in APScheduler's persistent job store: a fire missed while down runs once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailengine.engine.registry import WorkflowRegistry
from mailengine.scheduler import (
    build_scheduler,
    latest_fire_time,
    sync_schedules,
    take_due_schedules,
)
from mailengine.store.database import Database
from tests.engine.harness import REPO

BERLIN = ZoneInfo("Europe/Berlin")


def test_latest_fire_time_names_the_occurrence() -> None:
    now = datetime(2026, 11, 23, 10, 30, tzinfo=BERLIN)
    assert latest_fire_time("0 9 * * *", BERLIN, now) == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    monday = latest_fire_time("0 10 * * 1", BERLIN, datetime(2026, 11, 29, 8, 0, tzinfo=BERLIN))
    assert monday == datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)


async def test_a_missed_fire_runs_once_after_a_restart(database: Database) -> None:
    registry = WorkflowRegistry(database, REPO / "workflows", REPO)
    assert registry.load(datetime.now(UTC)).problems == []

    first = build_scheduler(database.url, BERLIN, timedelta(hours=12), 2.0)
    first.start(paused=True)
    sync_schedules(first, registry.current(), BERLIN)
    job = first.get_job("workflow:win-back")
    assert job is not None
    missed = job.next_run_time  # the next 09:00 in Berlin
    assert (missed.hour, missed.minute) == (9, 0)
    first.shutdown(wait=False)  # the engine goes down before that fire ...

    back = missed + timedelta(hours=3, minutes=30)  # ... and is back at 12:30
    second = build_scheduler(database.url, BERLIN, timedelta(hours=12), 2.0)
    second.start(paused=True)
    sync_schedules(second, registry.current(), BERLIN)  # keeps the stored next run time
    assert take_due_schedules(second, back) == [("win-back", missed)]
    assert take_due_schedules(second, back) == []  # once
    job = second.get_job("workflow:win-back")
    assert job is not None
    assert job.next_run_time == missed + timedelta(days=1)
    second.shutdown(wait=False)


async def test_only_the_leader_keeps_persistent_jobs(database: Database) -> None:
    follower = build_scheduler(database.url, BERLIN, timedelta(hours=1), 2.0, persistent=False)
    follower.start(paused=True)
    assert sorted(job.id for job in follower.get_jobs()) == ["engine:tick", "engine:yearly"]
    follower.shutdown(wait=False)
