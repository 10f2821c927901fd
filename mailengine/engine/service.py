"""The running engine: one process hosting the scheduler, the dispatcher and the servers.

`run()` serves until stopped (SIGTERM/SIGINT stop claiming new work and let in-flight SMTP
transactions finish; SIGHUP reloads workflows). `run_once()` fires what is due now, drains
the outbox and returns, for cron-style deployments and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from mailengine.clock import Clock, SystemClock
from mailengine.config import Settings
from mailengine.engine.broadcast_planner import BroadcastPlanner
from mailengine.engine.broadcast_sources import read_stored
from mailengine.engine.broadcast_winner import pick_winner
from mailengine.engine.dispatch_processes import (
    SEND_GRACE_SECONDS,
    DispatchProcesses,
    check_lease,
    dispatch_options,
    settings_composer,
)
from mailengine.engine.facts import HoldCheck
from mailengine.engine.leadership import Leadership
from mailengine.engine.prediction_job import run_predictions
from mailengine.engine.registry import ReloadResult, WorkflowRegistry
from mailengine.engine.round_sizes import RoundSizes
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.scheduler import (
    bind,
    build_scheduler,
    latest_fire_time,
    sync_schedules,
    take_due_schedules,
)
from mailengine.engine.schedules import ScheduleHost
from mailengine.engine.workflow_set import broken_file_text
from mailengine.errors import ConfigError
from mailengine.heap import settle_heap
from mailengine.outbound import Dispatcher, DispatchReport, SmtpTransport, Transport
from mailengine.owners import owner_identity
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.database import Database
from mailengine.store.orders import refresh_all_figures
from mailengine.store.wal_checkpoints import WalCheckpoints
from mailengine.store.workflow_files import BrokenFile

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 30.0
# A nudge (events stored) starts a tick this long after it, and the nudges meanwhile join it:
# under a stream of API commits the engine then claims the events of many commits at once
# instead of taking the database's write lock (on SQLite, against the API's writer) for each.
NUDGE_GATHER_SECONDS = 0.05


class Component(Protocol):
    """A server the engine starts and stops with itself (HTTP API, inbound SMTP, capture)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class OnceReport:
    schedules_fired: list[str]
    enrolled: int
    steps_advanced: int
    events: int
    dispatched: DispatchReport


class Engine:
    """Everything `mailengine run` runs, built from settings."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        clock: Clock | None = None,
        transport: Transport | None = None,
        components: list[Component] | None = None,
        hold: HoldCheck | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock or SystemClock()
        self._rounds = RoundSizes(settings.engine.batch_size)  # see `_work_until_idle`
        self.registry = WorkflowRegistry(
            database, settings.paths.workflows, settings.paths.workflows.parent
        )
        self.library = TemplateLibrary(settings.paths.templates, shop_locale=settings.locale)
        self.composer = settings_composer(settings, self.library)
        # With engine.dispatch_processes, `run` sends from those (started with it, refused
        # here if the settings cannot be shared out); `run_once` from this process.
        self.dispatch_processes = (
            DispatchProcesses(settings) if settings.engine.dispatch_processes else None
        )
        if transport is not None and self.dispatch_processes is not None:
            raise ConfigError(
                "engine.dispatch_processes sends over smtp settings; a transport of the "
                "caller's own cannot be shared with dispatcher processes"
            )
        self.transport = transport or SmtpTransport.from_settings(settings.smtp)
        check_lease(settings, self.transport)
        self.runner = WorkflowRunner(
            database, self.registry, settings, secret=secret_key(settings), hold=hold
        )
        self.dispatcher = Dispatcher(
            database,
            self.transport,
            self.composer,
            self.clock,
            options=dispatch_options(settings),
        )
        self.broadcasts = BroadcastPlanner(
            database,
            settings,
            secret=secret_key(settings),
            worker_id=owner_identity(),
            read_source=read_stored,
            pick_winner=pick_winner(settings),
        )
        self.components = components or []
        self.leadership = Leadership(database)
        self.schedules = ScheduleHost(settings, database.url, self.leadership)
        self._tick_lock = asyncio.Lock()
        self._tick_again = False  # new work came while a tick ran: it looks again before ending
        self._broadcast_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudged: asyncio.Task[None] | None = None
        self.prepared = False

    @property
    def scheduler_running(self) -> bool:
        return self.schedules.running

    # Start-up

    def prepare(self) -> list[BrokenFile]:
        """Check the schema, load workflows and compile templates. A broken workflow file
        stops only itself: its last good stored version runs in its place (or nothing, if it
        never loaded), logged as an error; the broken files found are returned."""
        self.database.check_schema()
        running, broken = self.registry.start(self.clock.now(), self.library)
        for found in broken:
            log.error("%s", broken_file_text(found, self.settings.zone))
        log.info("workflows running: %s", ", ".join(running) or "none")
        self.prepared = True
        return broken

    def reload(self) -> ReloadResult:
        """Pick up changed workflow files; with any problem (in a file or in a template it
        sends), what runs stays as it is."""
        result = self.registry.load(self.clock.now(), self.library)
        if result.problems:
            log.error("reload refused:\n  %s", "\n  ".join(result.problems))
            return result
        self.schedules.sync(self.registry.current())
        log.info("workflows reloaded; changed: %s", ", ".join(result.changed) or "none")
        return result

    # Serving

    async def run(self, stop: asyncio.Event) -> None:
        _handle_signals(stop, self.reload)  # first: a SIGTERM during start-up stops cleanly
        self._loop = asyncio.get_running_loop()
        if not self.prepared:  # a caller may have prepared first (to see what runs)
            self.prepare()
        settle_heap(composed=False)  # workflows loaded, templates compiled: kept for good
        # Before the servers and dispatchers: every commit from here on leaves the WAL to it.
        checkpoints = WalCheckpoints(self.database) if self.database.sqlite_file else None
        if checkpoints is not None:
            checkpoints.start()
        if self.dispatch_processes is None:
            await asyncio.to_thread(self.dispatcher.start)
        for component in self.components:
            await component.start()
        bind(self)
        await self.schedules.start(self.registry.current)
        dispatching = asyncio.create_task(self._dispatch(stop), name="dispatcher")
        leading = asyncio.create_task(
            self.schedules.keep_leading(stop, self.registry.current), name="leadership"
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping: no new work is claimed; in-flight messages finish")
            try:  # let a lock check under way finish, so that no lock outlives the release
                await asyncio.wait_for(leading, SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning("the schedule lock check did not finish in time")
            await self.schedules.stop()
            try:
                await asyncio.wait_for(dispatching, SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning("in-flight sends did not finish in time; they are retried later")
            for component in reversed(self.components):
                await component.stop()
            await self.transport.aclose()
            if checkpoints is not None:
                await asyncio.to_thread(checkpoints.stop)
            bind(None)
            self._loop = None

    async def _dispatch(self, stop: asyncio.Event) -> None:
        """Send until `stop`: here, or from the dispatcher processes (started after the
        servers, so that they find the SMTP capture server listening)."""
        processes = self.dispatch_processes
        if processes is None:
            await self.dispatcher.serve(
                stop,
                idle_seconds=self.settings.engine.dispatch_poll_seconds,
                grace_seconds=SEND_GRACE_SECONDS,
            )
            return
        await asyncio.to_thread(processes.start)
        log.info("sending from %d dispatcher processes", processes.count)
        try:
            await processes.watch(stop)
        finally:
            await asyncio.to_thread(processes.stop, SHUTDOWN_GRACE_SECONDS - 1)

    async def run_once(self) -> OnceReport:
        """Fire the schedules that are due, enroll on events, advance, drain the outbox."""
        self.prepare()
        scheduler = build_scheduler(
            self.database.url,
            self.settings.zone,
            timedelta(hours=self.settings.engine.misfire_grace_hours),
            self.settings.engine.tick_seconds,
            persistent=await asyncio.to_thread(self.leadership.try_lead),
        )
        fired: list[str] = []
        enrolled = 0
        scheduler.start(paused=True)
        try:
            if self.leadership.leading:
                now = self.clock.now()
                sync_schedules(scheduler, self.registry.current(), self.settings.zone, now)
                for workflow, fire_time in await asyncio.to_thread(
                    take_due_schedules, scheduler, now
                ):
                    enrolled += await asyncio.to_thread(
                        self.runner.fire_schedule, workflow, fire_time, self.clock.now()
                    )
                    fired.append(workflow)
                enrolled += await asyncio.to_thread(self.runner.fire_yearly, self.clock.now())
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.to_thread(self.leadership.release)
        await self.plan_broadcasts()
        events, advanced = await self._work_until_idle()
        try:
            dispatched = await self.dispatcher.drain()
        finally:
            await asyncio.to_thread(self.dispatcher.close)
        await self.transport.aclose()
        return OnceReport(fired, enrolled, advanced, events, dispatched)

    # ScheduledWork, called by the scheduler's jobs

    async def fire_schedule(self, workflow: str, cron: str, zone: ZoneInfo) -> None:
        now = self.clock.now()
        fire_time = await asyncio.to_thread(latest_fire_time, cron, zone, now)
        await asyncio.to_thread(self.runner.fire_schedule, workflow, fire_time, now)
        await self.tick()

    async def tick(self, gather: float = 0.0) -> None:
        """Enroll on new events and walk due enrollments until none is left (the sender is
        woken after every batch that planned mail, not once all are done). With `gather`, a
        round that found less than a batch waits that long before the next, so that events
        arriving in a stream are claimed many commits at a time."""
        if self._tick_lock.locked():
            self._tick_again = True
            return
        async with self._tick_lock:
            while True:
                self._tick_again = False
                await self._work_until_idle(gather)
                if not self._tick_again:
                    return
                if gather:
                    await asyncio.sleep(gather)

    def nudge(self) -> None:
        """New events were stored (callable from any thread, e.g. the API's writer): tick now
        rather than at the next interval, so that an order's confirmation leaves at once."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the engine stopped
                loop.call_soon_threadsafe(self._tick_soon)

    def _tick_soon(self) -> None:
        if self._nudged is None or self._nudged.done():
            self._nudged = asyncio.get_running_loop().create_task(
                self._gathered_tick(), name="nudged tick"
            )
        else:
            self._tick_again = True

    async def _gathered_tick(self) -> None:
        await asyncio.sleep(NUDGE_GATHER_SECONDS)
        await self.tick(NUDGE_GATHER_SECONDS)

    def _wake_senders(self) -> None:
        """Mail was planned: the dispatcher sending it (here, or in its processes) looks now."""
        if self.dispatch_processes is not None:
            self.dispatch_processes.wake()
        else:
            self.dispatcher.nudge()

    async def fire_yearly(self) -> None:
        await asyncio.to_thread(self.runner.fire_yearly, self.clock.now())

    async def refresh_figures(self) -> None:
        def refresh() -> int:
            with self.database.transaction() as session:
                return refresh_all_figures(session, self.clock.now())

        count = await asyncio.to_thread(refresh)
        log.info("refreshed the figures of %d customers", count)

    async def predict(self) -> None:
        """The nightly predictions (on a thread: fitting and writing take seconds)."""
        run = await asyncio.to_thread(
            run_predictions, self.database, self.settings.zone, self.clock.now()
        )
        log.info(
            "predicted the figures of %d customers (%d with orders) in %.1f s",
            run.customers,
            run.scored,
            run.seconds,
        )

    async def plan_broadcasts(self) -> None:
        """Plan the broadcasts that are due (on a thread: a million rows take a while)."""
        if self._broadcast_lock.locked():
            return
        async with self._broadcast_lock:
            planned = await asyncio.to_thread(self.broadcasts.run_due, self.clock.now)
            if planned:
                log.info("broadcasts planned: %s", ", ".join(planned))

    async def _work_until_idle(self, gather: float = 0.0) -> tuple[int, int]:
        """Events and due enrollments in rounds until none is left; sized by `RoundSizes`
        (on SQLite a round holds the one write lock while it works)."""
        events = advanced = 0
        while True:
            now = self.clock.now()
            batch = self._rounds.next
            new_events = await asyncio.to_thread(self.runner.process_events, now, batch)
            walked = await asyncio.to_thread(self.runner.advance_due, now, batch)
            if walked:  # an order's confirmation leaves now, not after the whole backlog
                self._wake_senders()
            self._rounds.after_round(self.database.writers_waiting())
            events += new_events
            advanced += walked
            if new_events == 0 and walked == 0:
                return events, advanced
            if gather and new_events < batch and walked < batch:
                await asyncio.sleep(gather)


def _handle_signals(stop: asyncio.Event, reload: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
