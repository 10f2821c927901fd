"""Schedules in APScheduler's persistent job store, the way `run --once` uses them: a fire
missed while down runs once, at fixed instants (never today's date)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from mailengine.cron.trigger import CrontabTrigger
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.scheduler import (
    PERSISTENT_STORE,
    build_scheduler,
    latest_fire_time,
    run_schedule,
    sync_schedules,
    take_due_schedules,
)
from mailengine.store.database import Database
from mailengine.workflows.model import Workflow
from tests.engine.harness import LIBRARY, REPO

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_MORNING = datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN)
SUNDAY_MORNING = datetime(2026, 11, 22, 8, 0, tzinfo=BERLIN)

Schedulers = Callable[..., AsyncIOScheduler]


@pytest.fixture
async def schedulers(database: Database) -> AsyncIterator[Schedulers]:
    """Schedulers started paused, as `run --once` starts them; all shut down after the test,
    whatever happened in it (each holds database connections), while its event loop runs."""
    made: list[AsyncIOScheduler] = []

    def start(*, persistent: bool = True) -> AsyncIOScheduler:
        scheduler = build_scheduler(
            database.url, BERLIN, timedelta(hours=12), 2.0, persistent=persistent
        )
        made.append(scheduler)
        scheduler.start(paused=True)
        return scheduler

    yield start
    for scheduler in made:
        if scheduler.running:
            scheduler.shutdown(wait=False)


def _workflows(database: Database, now: datetime) -> dict[str, Workflow]:
    registry = WorkflowRegistry(database, REPO / "workflows", REPO)
    assert registry.load(now, LIBRARY).problems == []
    return registry.current()


def test_latest_fire_time_names_the_occurrence() -> None:
    now = datetime(2026, 11, 23, 10, 30, tzinfo=BERLIN)
    assert latest_fire_time("0 9 * * *", BERLIN, now) == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    monday = latest_fire_time("0 10 * * 1", BERLIN, datetime(2026, 11, 29, 8, 0, tzinfo=BERLIN))
    assert monday == datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)


async def test_a_missed_fire_runs_once_after_a_restart(
    database: Database, schedulers: Schedulers
) -> None:
    workflows = _workflows(database, TUESDAY_MORNING)
    first = schedulers()
    sync_schedules(first, workflows, BERLIN, TUESDAY_MORNING)
    job = first.get_job("workflow:win-back")
    assert job is not None
    missed = job.next_run_time
    assert missed == datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    first.shutdown(wait=False)  # the engine goes down before that fire ...

    back = missed + timedelta(hours=3, minutes=30)  # ... and is back at 12:30
    second = schedulers()
    sync_schedules(second, workflows, BERLIN, back)  # keeps the stored next run time
    due = dict(take_due_schedules(second, back))
    assert due["win-back"] == missed
    assert sorted(due) == ["churn-risk-win-back", "replenish", "win-back"]  # the daily ones
    assert take_due_schedules(second, back) == []  # once
    job = second.get_job("workflow:win-back")
    assert job is not None
    assert job.next_run_time == missed + timedelta(days=1)


async def test_a_weekend_away_fires_each_schedule_once_at_its_latest_time(
    database: Database, schedulers: Schedulers
) -> None:
    workflows = _workflows(database, SUNDAY_MORNING)
    sync_schedules(schedulers(), workflows, BERLIN, SUNDAY_MORNING)
    back = datetime(2026, 11, 23, 12, 30, tzinfo=BERLIN)  # Monday: each daily one twice, VIP once
    again = schedulers()
    sync_schedules(again, workflows, BERLIN, back)
    due = take_due_schedules(again, back)
    assert sorted(due) == [
        ("churn-risk-win-back", datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)),
        ("replenish", datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)),
        ("vip", datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)),
        ("win-back", datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)),
    ]


async def test_a_job_stored_with_apscheduler_cron_trigger_keeps_its_run_time(
    database: Database, schedulers: Schedulers
) -> None:
    workflows = _workflows(database, TUESDAY_MORNING)
    old = schedulers()
    missed = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    old.add_job(
        run_schedule,
        CronTrigger(hour=9, minute=0, timezone=BERLIN),
        args=("win-back", "0 9 * * *", "Europe/Berlin"),
        id="workflow:win-back",
        jobstore=PERSISTENT_STORE,
        next_run_time=missed,
    )
    old.shutdown(wait=False)
    later = schedulers()
    sync_schedules(later, workflows, BERLIN, missed + timedelta(hours=1))
    job = later.get_job("workflow:win-back")
    assert job is not None
    assert isinstance(job.trigger, CrontabTrigger)
    assert job.next_run_time == missed


async def test_syncing_a_scheduler_that_is_not_started_is_refused(database: Database) -> None:
    scheduler = build_scheduler(database.url, BERLIN, timedelta(hours=1), 2.0, persistent=False)
    with pytest.raises(RuntimeError, match="start the scheduler"):
        sync_schedules(scheduler, {}, BERLIN)


async def test_only_the_leader_keeps_persistent_jobs(schedulers: Schedulers) -> None:
    follower = schedulers(persistent=False)
    assert sorted(job.id for job in follower.get_jobs()) == [
        "engine:broadcasts",
        "engine:tick",
        "engine:yearly",
    ]
