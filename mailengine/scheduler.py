"""APScheduler wiring: persistent cron jobs for schedules, frequent ticks for events and steps.

Jobs are top-level `async def` functions with plain arguments (a persistent job store pickles
a `module:function` reference), with fixed ids, `coalesce` and an explicit misfire grace, so a
fire missed while the engine was down runs once when it is back. They reach the running engine
through `bind()`; the engine is the only thing they need.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from mailengine.cron import crontab_trigger
from mailengine.workflows.model import ScheduleTrigger, Workflow

log = logging.getLogger(__name__)
SCHEDULE_JOB_PREFIX = "workflow:"


class ScheduledWork(Protocol):
    """What the jobs call; implemented by the running engine."""

    async def fire_schedule(self, workflow: str, fire_time: datetime) -> None: ...

    async def tick(self) -> None: ...

    async def fire_yearly(self) -> None: ...

    async def refresh_figures(self) -> None: ...


_bound: ScheduledWork | None = None


def bind(work: ScheduledWork | None) -> None:
    global _bound
    _bound = work


def _work() -> ScheduledWork:
    if _bound is None:
        raise RuntimeError("no engine is running in this process")
    return _bound


async def run_schedule(workflow: str, cron: str, timezone: str) -> None:
    """A workflow's cron fired (or fires late after a restart): enroll its audience."""
    zone = ZoneInfo(timezone)
    fire_time = latest_fire_time(cron, zone, datetime.now(zone))
    await _work().fire_schedule(workflow, fire_time)


async def run_tick() -> None:
    await _work().tick()


async def run_yearly() -> None:
    await _work().fire_yearly()


async def run_refresh_figures() -> None:
    await _work().refresh_figures()


def latest_fire_time(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The last moment at or before `now` at which `cron` fires: names the occurrence."""
    trigger = crontab_trigger(cron, zone)
    moment: datetime | None = trigger.get_next_fire_time(None, now - timedelta(days=400))
    latest = now
    while moment is not None and moment <= now:
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return latest


def build_scheduler(
    database_url: str,
    zone: ZoneInfo,
    misfire_grace: timedelta,
    tick_seconds: float,
    *,
    persistent: bool = True,
) -> AsyncIOScheduler:
    """Ticks in memory; with `persistent` (the cluster's leader) the schedule jobs in the
    database as well. Two schedulers on one job store would run every job twice."""
    stores: dict[str, Any] = {"memory": MemoryJobStore()}
    if persistent:
        stores["default"] = persistent_job_store(database_url)
    scheduler = AsyncIOScheduler(
        timezone=zone,
        jobstores=stores,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(misfire_grace.total_seconds()),
        },
    )
    scheduler.add_job(
        run_tick,
        "interval",
        seconds=tick_seconds,
        id="engine:tick",
        jobstore="memory",
        misfire_grace_time=max(1, int(tick_seconds * 5)),
    )
    scheduler.add_job(
        run_yearly, "cron", minute=5, id="engine:yearly", jobstore="memory", misfire_grace_time=3600
    )
    if persistent:
        scheduler.add_job(
            run_refresh_figures,
            CronTrigger(hour=3, minute=30, timezone=zone),
            id="engine:refresh-figures",
            replace_existing=True,
        )
    return scheduler


def persistent_job_store(url: str) -> SQLAlchemyJobStore:
    """A job store with an engine of its own: APScheduler disposes it at shutdown."""
    return SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")


def sync_schedules(
    scheduler: AsyncIOScheduler, workflows: dict[str, Workflow], zone: ZoneInfo
) -> None:
    """One persistent cron job per scheduled workflow; jobs of removed workflows go."""
    wanted: set[str] = set()
    for workflow in workflows.values():
        trigger = workflow.trigger
        if not isinstance(trigger, ScheduleTrigger):
            continue
        job_id = SCHEDULE_JOB_PREFIX + workflow.name
        wanted.add(job_id)
        existing = scheduler.get_job(job_id)
        if existing is not None and existing.args == (workflow.name, trigger.cron, zone.key):
            continue  # keep its stored next run time: a missed fire still runs once
        scheduler.add_job(
            run_schedule,
            crontab_trigger(trigger.cron, zone),
            args=(workflow.name, trigger.cron, zone.key),
            id=job_id,
            name=f"schedule of {workflow.name}",
            replace_existing=True,
        )
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith(SCHEDULE_JOB_PREFIX) and job.id not in wanted:
            job.remove()


def take_due_schedules(scheduler: AsyncIOScheduler, now: datetime) -> list[tuple[str, datetime]]:
    """For `run --once` (the scheduler started paused): the schedule fires that are due, as
    (workflow, fire time), each job moved on to its next fire time."""
    due: list[tuple[str, datetime]] = []
    for job in scheduler.get_jobs(jobstore="default"):
        if not job.id.startswith(SCHEDULE_JOB_PREFIX) or job.next_run_time is None:
            continue
        if job.next_run_time > now:
            continue
        workflow, cron, timezone = job.args
        zone = ZoneInfo(timezone)
        local_now = now.astimezone(zone)
        due.append((workflow, latest_fire_time(cron, zone, local_now)))
        job.modify(next_run_time=job.trigger.get_next_fire_time(None, local_now))
    return due
