"""The engine's scheduler host: APScheduler, holding the schedule jobs while this engine leads.

Start-up order matters with APScheduler 3, whose stopped scheduler sees only the jobs added
since, not the stored ones: the scheduler starts paused, the schedule jobs are synced against
the stored ones (so a fire missed while the engine was down keeps its run time), and only
then does it run, firing that missed run once.

On PostgreSQL only the holder of the advisory lock (`Leadership`) keeps the persistent job
store. It confirms the lock on the lock's own connection before the store hands out a due
job and every `engine.leadership_check_seconds`; when the lock is lost it steps down (drops
the store, logs a WARNING) without firing, and like every other engine it keeps trying to
take the lock again, coming back the same way it started: paused, store, sync, resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailengine.config import Settings
from mailengine.engine.leadership import Leadership
from mailengine.engine.scheduler import (
    PERSISTENT_STORE,
    GuardedJobStore,
    build_scheduler,
    sync_schedules,
)
from mailengine.workflows.model import Workflow

log = logging.getLogger(__name__)

Workflows = Callable[[], dict[str, Workflow]]


class ScheduleHost:
    """The engine's APScheduler, and whether it holds the schedule jobs."""

    def __init__(self, settings: Settings, database_url: str, leadership: Leadership) -> None:
        self._settings = settings
        self._database_url = database_url
        self._leadership = leadership
        self._scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.holds_schedules = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    @property
    def scheduler(self) -> AsyncIOScheduler:
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not running")
        return self._scheduler

    async def start(self, workflows: Workflows) -> None:
        leading = await asyncio.to_thread(self._leadership.try_lead)
        engine = self._settings.engine
        self._loop = asyncio.get_running_loop()
        self._scheduler = build_scheduler(
            self._database_url,
            self._settings.zone,
            timedelta(hours=engine.misfire_grace_hours),
            engine.tick_seconds,
            persistent=False,
        )
        self._scheduler.start(paused=True)
        if leading:
            self._attach(workflows())
        self._scheduler.resume()

    def sync(self, workflows: dict[str, Workflow]) -> None:
        """After a reload: the schedule jobs follow the workflows (if this engine has them)."""
        if self.holds_schedules:
            sync_schedules(self.scheduler, workflows, self._settings.zone)

    async def keep_leading(self, stop: asyncio.Event, workflows: Workflows) -> None:
        """Until `stop`: the leader confirms its lock, the others try to take it."""
        every = self._settings.engine.leadership_check_seconds
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every)
                return
            except TimeoutError:
                pass
            try:
                if self.holds_schedules:
                    await asyncio.to_thread(self._confirm)
                elif await asyncio.to_thread(self._leadership.try_lead):
                    self._take_over(workflows())
            except Exception as error:  # the database may be away for a while: try again
                log.warning("could not check the schedule lock (again in %s s): %s", every, error)

    async def stop(self) -> None:
        """Shut the scheduler down and give the lock back; never fails on the lock."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.holds_schedules = False
        await asyncio.to_thread(self._leadership.release)

    def _attach(self, workflows: dict[str, Workflow]) -> None:
        store = GuardedJobStore(self._database_url, self._may_fire)
        self.scheduler.add_jobstore(store, PERSISTENT_STORE)
        self.holds_schedules = True
        sync_schedules(self.scheduler, workflows, self._settings.zone)

    def _take_over(self, workflows: dict[str, Workflow]) -> None:
        scheduler = self.scheduler
        scheduler.pause()
        try:
            self._attach(workflows)
        finally:
            scheduler.resume()
        log.info("this engine runs the schedules again")

    def _may_fire(self) -> bool:
        """Asked by the job store, on the event loop, before it hands out due jobs."""
        held = self._leadership.confirm()
        if not held and self._loop is not None:
            self._loop.call_soon(self._step_down)  # not while APScheduler walks its stores
        return held

    def _confirm(self) -> None:
        """The periodic check, on a worker thread."""
        if not self._leadership.confirm() and self._loop is not None:
            self._loop.call_soon_threadsafe(self._step_down)

    def _step_down(self) -> None:
        if not self.holds_schedules or self._scheduler is None:
            return
        self.holds_schedules = False
        self._scheduler.remove_jobstore(PERSISTENT_STORE)
        log.warning(
            "lost the schedule lock (its database connection ended): this engine no longer "
            "runs the schedules and tries to take them again every %s s",
            self._settings.engine.leadership_check_seconds,
        )
