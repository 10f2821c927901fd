"""The HTTP app served from processes of its own beside the engine (`http.workers` N > 0).

The engine binds the listening socket and starts N processes ("spawn": the engine has threads
and open connections a fork would copy in whatever state they were in); each gets the socket
(one accept queue for all, the kernel hands each connection to one of them) and builds its own
app, database connection and group-commit intake from the same settings. So the API's request
parsing, validation and commits no longer share one interpreter lock with the engine's
planning, rendering and sending.

Each process has a socket pair to the engine, its control line:
- process -> engine: `READY` once it listens, `STORED` after each commit of events or orders
  (the engine ticks at once, as with the in-process app's `on_stored`; a lost byte costs only
  the wait for the engine's next tick);
- engine -> process: end of file means stop. The engine shuts its side down to stop the
  process (requests in flight finish, bounded by `GRACE_SECONDS`); the kernel does the same
  when the engine dies, even by kill -9, so no process serves on without its engine (a check
  of the parent's pid backs this up).

/healthz in a process reports the scheduler from a heartbeat in shared memory: the engine
writes the monotonic time into it every `BEAT_SECONDS` while its scheduler runs, and a beat
older than `STALE_SECONDS` reads as stopped (also when the engine's loop is stuck).

A process that dies is started again after `RESTART_AFTER_SECONDS`, with a log line; the
engine goes on. Workflows reloaded on SIGHUP do not reach the processes, as they do not reach
the in-process app either: the preference pages' topics are fixed when the app is built, at
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any, Protocol

from fastapi import FastAPI

from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.heap import settle_heap
from mailengine.store.database import Database
from mailengine.store.write_turn import announce_waits
from mailengine.web.server import WebServerError, bind, make_server, serve_on

log = logging.getLogger(__name__)

READY = b"R"
STORED = b"S"
BEAT_SECONDS = 1.0
STALE_SECONDS = 5.0
START_SECONDS = 120.0
"""How long a process may take to import, build its app and listen (a busy machine is slow)."""
RESTART_AFTER_SECONDS = 1.0
GRACE_SECONDS = 10.0
"""Requests in flight get this long to be answered when the processes are stopped."""
PARENT_CHECK_SECONDS = 0.5
BACKLOG = 2048  # as uvicorn's own
LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


class AppFactory(Protocol):
    """Builds the app in a worker process: a top-level function (or a partial of one), so
    that it can be handed to a spawned process."""

    def __call__(
        self,
        settings: Settings,
        database: Database,
        clock: Clock,
        scheduler_running: Callable[[], bool],
        on_stored: Callable[[], None],
    ) -> FastAPI: ...


class HttpWorkers:
    """The worker processes as a part of the engine: started, watched and stopped with it."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        factory: AppFactory,
        *,
        scheduler_running: Callable[[], bool],
        on_stored: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._factory = factory
        self._scheduler_running = scheduler_running
        self._on_stored = on_stored
        self.count = settings.http.workers
        self._context = get_context("spawn")
        self._beat: Synchronized[float] = self._context.RawValue("d", 0.0)
        self._processes: list[SpawnProcess | None] = [None] * self.count
        self._controls: list[socket.socket | None] = [None] * self.count
        self._ready = [asyncio.Event() for _ in range(self.count)]
        self._ended = [asyncio.Event() for _ in range(self.count)]
        self._listener: socket.socket | None = None
        self._stopping = False
        self._serving = False  # start() is over: a process that ends is started again
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self) -> None:
        http = self._settings.http
        self._listener = bind(http.host, http.port)
        self._listener.listen(BACKLOG)  # connections wait in the queue until a process takes them
        self.port = int(self._listener.getsockname()[1])
        self._stopping = False
        self._beat_now()
        self._keep(self._heartbeat())
        for slot in range(self.count):
            self._start(slot)
        try:
            for slot in range(self.count):
                await self._until_ready(slot)
        except BaseException:
            await self.stop()
            raise
        self._serving = True
        log.info("HTTP served by %d worker processes on port %d", self.count, self.port)

    async def _until_ready(self, slot: int) -> None:
        ready = asyncio.create_task(self._ready[slot].wait())
        ended = asyncio.create_task(self._ended[slot].wait())
        await asyncio.wait({ready, ended}, timeout=START_SECONDS, return_when="FIRST_COMPLETED")
        ready.cancel()
        ended.cancel()
        if not self._ready[slot].is_set():
            process = self._processes[slot]
            code = process.exitcode if process is not None else None
            raise WebServerError(
                f"HTTP worker process {slot + 1} did not start (exit code {code}): see the "
                "log above"
            )

    def _start(self, slot: int) -> None:
        assert self._listener is not None
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=serve_in_process,
            args=(
                self._settings,
                self._clock,
                self._factory,
                self._listener,
                theirs,
                self._beat,
                os.getpid(),
                logging.getLogger().getEffectiveLevel(),
            ),
            name=f"http-{slot + 1}",
            daemon=False,
        )
        self._ready[slot].clear()
        self._ended[slot].clear()
        process.start()
        theirs.close()  # the process has its own copy: end of file reaches us when it ends
        ours.setblocking(False)
        self._processes[slot] = process
        self._controls[slot] = ours
        asyncio.get_running_loop().add_reader(ours, self._read, slot)

    def _read(self, slot: int) -> None:
        control = self._controls[slot]
        if control is None:
            return
        try:
            said = control.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            said = b""
        if not said:  # the process ended
            asyncio.get_running_loop().remove_reader(control)
            control.close()
            self._controls[slot] = None
            self._ended[slot].set()
            if self._serving and not self._stopping:
                self._keep(self._restart(slot))
            return
        if READY in said:
            self._ready[slot].set()
        if STORED in said:
            self._on_stored()

    async def _restart(self, slot: int) -> None:
        process = self._processes[slot]
        if process is not None:
            await asyncio.to_thread(process.join, GRACE_SECONDS)
            log.error(
                "HTTP worker process %s ended (exit code %s); starting it again",
                process.name,
                process.exitcode,
            )
        await asyncio.sleep(RESTART_AFTER_SECONDS)
        if self._stopping:
            return
        if process is not None and process.exitcode is not None:
            process.close()
        self._start(slot)

    async def _heartbeat(self) -> None:
        while not self._stopping:
            self._beat_now()
            await asyncio.sleep(BEAT_SECONDS)

    def _beat_now(self) -> None:
        self._beat.value = time.monotonic() if self._scheduler_running() else 0.0

    def _keep(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Each process stops taking connections and answers the requests it has."""
        self._stopping = True
        self._serving = False
        for task in list(self._tasks):
            task.cancel()
        for control in self._controls:
            if control is not None:
                with contextlib.suppress(OSError):
                    control.shutdown(socket.SHUT_WR)
        await asyncio.to_thread(self._join, GRACE_SECONDS + 5)
        loop = asyncio.get_running_loop()
        for slot, control in enumerate(self._controls):
            if control is not None:
                loop.remove_reader(control)
                control.close()
                self._controls[slot] = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _join(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for process in self._processes:
            if process is not None and process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process is not None and process.pid is not None and process.is_alive():
                log.warning("HTTP worker process %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()


# In a worker process


def serve_in_process(
    settings: Settings,
    clock: Clock,
    factory: AppFactory,
    listener: socket.socket,
    control: socket.socket,
    beat: Synchronized[float],
    engine_pid: int,
    log_level: int,
) -> None:
    """Serve the app on `listener` until the engine says stop (end of file on `control`) or
    goes away. Ctrl-C and SIGTERM reach the whole process group: stopping is the engine's to
    decide, so that it stops the processes after the rest of it has begun to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    announce_waits()  # the engine's rounds shrink while these writers wait
    asyncio.run(_serve(settings, clock, factory, listener, control, beat, engine_pid))


async def _serve(
    settings: Settings,
    clock: Clock,
    factory: AppFactory,
    listener: socket.socket,
    control: socket.socket,
    beat: Synchronized[float],
    engine_pid: int,
) -> None:
    control.setblocking(False)

    def stored() -> None:  # on the intake's writer thread
        _say(control, STORED)

    def scheduler_running() -> bool:
        return time.monotonic() - beat.value < STALE_SECONDS

    database = Database(settings.database.url)
    database.leave_checkpoints_to_engine()  # `store.wal_checkpoints`
    app = factory(settings, database, clock, scheduler_running, stored)
    settle_heap(composed=False)  # imports and the app out of the collector's way
    http = settings.http
    server = make_server(
        app, http.host, http.port, grace_seconds=int(GRACE_SECONDS),
        trusted_proxies=http.trusted_proxies,
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def told() -> None:
        try:
            said = control.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            said = b""
        if not said:
            loop.remove_reader(control)
            stop.set()

    loop.add_reader(control, told)
    watching = asyncio.create_task(_watch_parent(engine_pid, stop))
    try:
        await serve_on(server, listener, stop, on_started=lambda _port: _say(control, READY))
    finally:
        watching.cancel()
        database.dispose()
        control.close()


def _say(control: socket.socket, what: bytes) -> None:
    with contextlib.suppress(OSError):  # full: a wake-up is pending already; gone: stopping
        control.send(what)


async def _watch_parent(engine_pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != engine_pid:
            log.warning("the engine went away; stopping after the requests in flight")
            stop.set()
            return
        await asyncio.sleep(PARENT_CHECK_SECONDS)
