"""APScheduler wiring: persistent cron jobs for schedules, frequent ticks for events and steps.

Jobs are top-level `async def` functions with plain arguments (a persistent job store pickles
a `module:function` reference), with fixed ids, `coalesce` and an explicit misfire grace, so a
fire missed while the engine was down runs once when it is back. They reach the running engine
through `bind()`; the engine is the only thing they need.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailengine.cron.trigger import CrontabTrigger, crontab_trigger
from mailengine.workflows.model import ScheduleTrigger, Workflow

log = logging.getLogger(__name__)
SCHEDULE_JOB_PREFIX = "workflow:"
REFRESH_FIGURES_JOB = "engine:refresh-figures"
REFRESH_FIGURES_CRON = "30 3 * * *"
PREDICT_JOB = "engine:predict"
PREDICT_CRON = "0 4 * * *"  # after the figures refresh: every order of the day is in
PERSISTENT_STORE = "schedules"  # not "default": APScheduler fills that with a memory store
JOB_TABLE = "apscheduler_jobs"


class ScheduledWork(Protocol):
    """What the jobs call; implemented by the running engine."""

    async def fire_schedule(self, workflow: str, cron: str, zone: ZoneInfo) -> None: ...

    async def tick(self) -> None: ...

    async def fire_yearly(self) -> None: ...

    async def refresh_figures(self) -> None: ...

    async def predict(self) -> None: ...

    async def plan_broadcasts(self) -> None: ...


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
    await _work().fire_schedule(workflow, cron, ZoneInfo(timezone))


async def run_tick() -> None:
    await _work().tick()


async def run_yearly() -> None:
    await _work().fire_yearly()


async def run_refresh_figures() -> None:
    await _work().refresh_figures()


async def run_predict() -> None:
    await _work().predict()


async def run_broadcasts() -> None:
    await _work().plan_broadcasts()


def latest_fire_time(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The last moment at or before `now` at which `cron` fires: names the occurrence.

    A few dozen steps back from `now` (see `mailengine.cron.trigger`), whatever the cron."""
    fire = crontab_trigger(cron, zone).latest_fire_at_or_before(now)
    if fire is None:
        raise ValueError(f"'{cron}' has not fired in the 8 years before {now.isoformat()}")
    return fire


def build_scheduler(
    database_url: str,
    zone: ZoneInfo,
    misfire_grace: timedelta,
    tick_seconds: float,
    *,
    persistent: bool = True,
) -> AsyncIOScheduler:
    """Ticks in memory; with `persistent` (the cluster's leader) the job store in the database
    as well, for `sync_schedules` to fill. Two schedulers on one job store would run every job
    twice."""
    stores: dict[str, Any] = {"memory": MemoryJobStore()}
    if persistent:
        stores[PERSISTENT_STORE] = persistent_job_store(database_url)
    scheduler = AsyncIOScheduler(
        timezone=zone,
        jobstores=stores,
        job_defaults={
            "coalesce": True,  # CrontabTrigger relies on it: missed fires run once, the latest
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
    scheduler.add_job(  # every engine looks; a claim in the database lets one plan each
        run_broadcasts,
        "interval",
        seconds=tick_seconds,
        id="engine:broadcasts",
        jobstore="memory",
        misfire_grace_time=max(1, int(tick_seconds * 5)),
    )
    scheduler.add_job(
        run_yearly,
        crontab_trigger("5 * * * *", zone),
        id="engine:yearly",
        jobstore="memory",
        misfire_grace_time=3600,
    )
    return scheduler


def persistent_job_store(url: str) -> SQLAlchemyJobStore:
    """A job store with an engine of its own: APScheduler disposes it at shutdown."""
    return SQLAlchemyJobStore(url=url, tablename=JOB_TABLE)


class GuardedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The persistent job store, handing out due jobs only while `may_run()` says so.

    APScheduler moves a due job's stored next run time on before it runs the job, so the
    check has to come here, first: a job held back keeps its stored time and runs once when
    this engine (or another one) runs the store again."""

    def __init__(self, url: str, may_run: Callable[[], bool]) -> None:
        super().__init__(url=url, tablename=JOB_TABLE)
        self._may_run = may_run

    def get_due_jobs(self, now: datetime) -> list[Job]:
        due: list[Job] = super().get_due_jobs(now)
        if due and not self._may_run():
            return []
        return due


def sync_schedules(
    scheduler: AsyncIOScheduler,
    workflows: dict[str, Workflow],
    zone: ZoneInfo,
    now: datetime | None = None,
) -> None:
    """One persistent cron job per scheduled workflow (and the nightly figures refresh and
    predictions); jobs of removed workflows go. A job that is already stored keeps its next
    run time, so a fire missed while the engine was down still runs once: the scheduler must
    be started (paused) before, as a stopped APScheduler 3 sees only the jobs added since,
    not the stored ones.
    New jobs get their first fire after `now` (default: APScheduler's clock)."""
    if not scheduler.running:
        raise RuntimeError("start the scheduler (paused) before syncing its stored jobs")
    wanted: dict[str, tuple[Callable[..., Awaitable[None]], str, tuple[str, ...]]] = {
        REFRESH_FIGURES_JOB: (run_refresh_figures, REFRESH_FIGURES_CRON, ()),
        PREDICT_JOB: (run_predict, PREDICT_CRON, ()),
    }
    for workflow in workflows.values():
        if isinstance(workflow.trigger, ScheduleTrigger):
            cron = workflow.trigger.cron
            wanted[SCHEDULE_JOB_PREFIX + workflow.name] = (
                run_schedule,
                cron,
                (workflow.name, cron, zone.key),
            )
    for job_id, (function, cron, args) in wanted.items():
        _keep_job(scheduler, job_id, function, crontab_trigger(cron, zone), args, now)
    for job in scheduler.get_jobs(jobstore=PERSISTENT_STORE):
        if job.id.startswith(SCHEDULE_JOB_PREFIX) and job.id not in wanted:
            log.info("schedule of removed workflow %s dropped", job.id[len(SCHEDULE_JOB_PREFIX) :])
            job.remove()


def _keep_job(
    scheduler: AsyncIOScheduler,
    job_id: str,
    function: Callable[..., Awaitable[None]],
    trigger: CrontabTrigger,
    args: tuple[str, ...],
    now: datetime | None,
) -> None:
    existing: Job | None = scheduler.get_job(job_id, jobstore=PERSISTENT_STORE)
    options: dict[str, Any] = {}
    if existing is not None and existing.args == args:
        if isinstance(existing.trigger, CrontabTrigger) and str(existing.trigger) == str(trigger):
            return  # keep its stored next run time: a missed fire still runs once
        options["next_run_time"] = existing.next_run_time  # stored by an older trigger
    elif now is not None:
        options["next_run_time"] = trigger.get_next_fire_time(None, now)
    scheduler.add_job(
        function,
        trigger,
        args=args,
        id=job_id,
        name=job_id,
        jobstore=PERSISTENT_STORE,
        replace_existing=True,
        **options,
    )


def take_due_schedules(scheduler: AsyncIOScheduler, now: datetime) -> list[tuple[str, datetime]]:
    """For `run --once` (the scheduler started paused): the schedule fires that are due, as
    (workflow, fire time), each job moved on to its first fire after that one."""
    due: list[tuple[str, datetime]] = []
    for job in scheduler.get_jobs(jobstore=PERSISTENT_STORE):
        if not job.id.startswith(SCHEDULE_JOB_PREFIX) or job.next_run_time is None:
            continue
        if job.next_run_time.astimezone(UTC) > now.astimezone(UTC):
            continue
        workflow, cron, timezone = job.args
        fire_time = latest_fire_time(cron, ZoneInfo(timezone), now)
        due.append((workflow, fire_time))
        job.modify(next_run_time=job.trigger.get_next_fire_time(fire_time, now))
    return due
