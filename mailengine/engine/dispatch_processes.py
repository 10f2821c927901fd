"""Dispatchers built from settings, in the engine's process or in processes of their own.

With `engine.dispatch_processes` N > 0 the engine starts N processes that each claim, compose
and send (whole dispatchers, with SMTP connections of their own), and keeps only the scheduler
and the servers in its own process: no message then crosses a process boundary, and every
core works. They share one outbox as dispatchers on several machines do: SKIP LOCKED claims
on PostgreSQL; on SQLite every unit of work takes the write lock as it begins.

`smtp.connections`, `smtp.rate_per_second` and `smtp.per_domain_rate` stay totals: each
process gets an even share (`share_of`), so at most `smtp.connections` messages are in flight
in all, and a crash repeats no more than that.

Each process has a socket pair to the engine: the engine writes a byte to it whenever it
planned mail (`wake`), and the process looks for due mail at once instead of at its next
poll (`engine.dispatch_poll_seconds`, which still finds mail that came due with time: a
retry, a scheduled send). A full socket means a wake-up is pending already.

The processes are started with "spawn" (the engine has threads and open connections a fork
would copy in whatever state they were in). Stopping sets a shared flag: each finishes its
in-flight SMTP transactions (for up to SEND_GRACE_SECONDS) and hands back at once what it
still held. One that dies is started again, and the new one (or any other dispatcher on this
host, within seconds) hands back the rows the dead one held: their holder is named by host
and pid (`owners`). One whose engine died (kill -9) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized

from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.errors import ConfigError
from mailengine.outbound import (
    Composer,
    Dispatcher,
    DispatchOptions,
    DkimSigner,
    SmtpTransport,
    Transport,
    domain_share,
)
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.database import Database
from mailengine.store.write_turn import hand_over_often

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.2
"""How often a dispatcher process looks whether it is to stop, or its engine is gone."""
RESTART_AFTER_SECONDS = 5.0
"""A dispatcher process that died is started again after this long (not in a tight loop)."""
SEND_GRACE_SECONDS = 25.0
"""After a stop, in-flight SMTP transactions get this long to finish; then they are cut short
and handed back, with everything else still held (the engine waits 30 s in all)."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
WAKE = b"W"


def dkim_signer(settings: Settings) -> DkimSigner | None:
    """The DKIM signer `dkim` asks for, or None when signing is off."""
    return configured_dkim_signer(settings) if settings.dkim.enabled else None


def configured_dkim_signer(settings: Settings) -> DkimSigner:
    """The signer of the configured DKIM key, whether signing is on yet or not."""
    dkim = settings.dkim
    domain = dkim.domain or settings.sender.domain
    if dkim.private_key is not None:
        return DkimSigner(domain, dkim.selector, dkim.private_key.get_secret_value())
    if dkim.private_key_file is not None:
        return DkimSigner.from_file(domain, dkim.selector, dkim.private_key_file)
    raise ConfigError(
        "no DKIM key is configured: make one (openssl genpkey -algorithm RSA -pkeyopt "
        "rsa_keygen_bits:2048 -out dkim.pem) and set dkim.private_key_file in config.yaml "
        "(or MAILENGINE_DKIM__PRIVATE_KEY)"
    )


def settings_composer(settings: Settings, library: TemplateLibrary) -> Composer:
    """The composer for these settings: their sender, secret key and DKIM signer."""
    return Composer(settings, library, secret_key(settings), dkim_signer(settings))


def dispatch_options(settings: Settings, *, in_engine_process: bool = True) -> DispatchOptions:
    """A dispatcher in a process of its own composes on one thread beside its event loop: the
    processes keep the cores busy, and a second compose thread would only add hand-overs of
    the interpreter lock."""
    lease = settings.engine.lease_seconds
    common = DispatchOptions(
        retry_for=timedelta(hours=settings.smtp.retry_for_hours),
        lease=timedelta(seconds=lease) if lease is not None else None,
        per_domain_connections=settings.smtp.per_domain_connections,
    )
    if in_engine_process:
        return replace(common, compose_processes=settings.engine.compose_processes)
    return replace(common, compose_threads=1)


def check_lease(settings: Settings, transport: Transport) -> None:
    """Refuse a lease on claimed messages that one send could outlast: a message whose claim
    ran out mid-send could be taken up and sent again by another dispatcher."""
    lease = settings.engine.lease_seconds
    longest = transport.longest_send_seconds
    if lease is not None and lease <= longest:
        raise ConfigError(
            f"engine.lease_seconds is {lease:g} but one SMTP send can take up to {longest:g} s "
            f"(bounded by smtp.timeout_seconds): a claim must outlast the longest send; set "
            f"engine.lease_seconds above {longest:g} (unset, it is twice the longest send), "
            "or lower smtp.timeout_seconds"
        )


def check_dispatch_processes(settings: Settings) -> None:
    """Refuse settings that cannot be shared out among the dispatcher processes."""
    processes = settings.engine.dispatch_processes
    if processes == 0:
        return
    if settings.engine.compose_processes:
        raise ConfigError(
            "engine.dispatch_processes and engine.compose_processes are both set: choose "
            "one (dispatch_processes, about one per core, also spreads the sending)"
        )
    if processes > settings.smtp.connections:
        raise ConfigError(
            f"engine.dispatch_processes is {processes} but smtp.connections is "
            f"{settings.smtp.connections}: each dispatcher process needs a connection of its "
            "own (smtp.connections is the total of all processes)"
        )


def share_of(settings: Settings, processes: int, slot: int = 0) -> Settings:
    """The settings of dispatcher process `slot` of `processes`: an even share of the SMTP
    connections (rounded down) and of every rate limit, and its part of the connections one
    recipient domain may hold (what does not divide evenly goes to the first processes)."""
    smtp = settings.smtp
    per_domain = smtp.per_domain_connections or domain_share(smtp.connections)
    share = smtp.model_copy(
        update={
            "connections": max(1, smtp.connections // processes),
            "per_domain_connections": max(
                1, per_domain // processes + (1 if slot < per_domain % processes else 0)
            ),
            "rate_per_second": smtp.rate_per_second / processes,
            "per_domain_rate": {
                domain: rate / processes for domain, rate in smtp.per_domain_rate.items()
            },
        }
    )
    return settings.model_copy(update={"smtp": share})


class DispatchProcesses:
    """The engine's dispatcher processes: started, watched (and started again), stopped."""

    def __init__(self, settings: Settings) -> None:
        check_dispatch_processes(settings)
        self.count = settings.engine.dispatch_processes
        self._shares = [share_of(settings, self.count, slot) for slot in range(self.count)]
        self._context = get_context("spawn")
        # A flag in shared memory, read without a lock: a process killed while holding the
        # lock of a multiprocessing Event would leave every other waiting on it for ever.
        self._stopping: Synchronized[int] = self._context.RawValue("i", 0)
        self._processes: list[SpawnProcess | None] = [None] * self.count
        self._wakers: list[socket.socket | None] = [None] * self.count
        self._died_at: list[float] = [0.0] * self.count

    def start(self) -> None:
        """Start every process (each takes a second or so to import and begin claiming)."""
        for slot in range(self.count):
            self._start(slot)

    def _start(self, slot: int) -> None:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=serve_in_process,
            args=(
                self._shares[slot],
                self._stopping,
                theirs,
                os.getpid(),
                logging.getLogger().getEffectiveLevel(),
            ),
            name=f"dispatch-{slot + 1}",
        )
        process.start()
        theirs.close()  # the process has its own copy
        ours.setblocking(False)
        self._processes[slot] = process
        self._close_waker(slot)
        self._wakers[slot] = ours

    def wake(self) -> None:
        """Mail was planned: every process looks for it now (callable from any thread)."""
        for waker in self._wakers:
            if waker is not None:
                with contextlib.suppress(OSError):  # full: a wake-up is pending; gone: ended
                    waker.send(WAKE)

    def _close_waker(self, slot: int) -> None:
        waker, self._wakers[slot] = self._wakers[slot], None
        if waker is not None:
            waker.close()

    def running(self) -> int:
        """How many of the processes are alive now."""
        return sum(1 for process in self._processes if process is not None and process.is_alive())

    async def watch(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Until `stop`: start again any process that died."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if not stop.is_set():
                await asyncio.to_thread(self.restart_dead)

    def restart_dead(self) -> None:
        now = time.monotonic()
        for slot, process in enumerate(self._processes):
            if process is None or process.is_alive() or self._stopping.value:
                continue
            if not self._died_at[slot]:
                self._died_at[slot] = now
                log.error(
                    "dispatcher process %s ended (exit code %s); starting it again in %.0f s, "
                    "and it takes up the messages the old one held",
                    process.name,
                    process.exitcode,
                    RESTART_AFTER_SECONDS,
                )
            elif now - self._died_at[slot] >= RESTART_AFTER_SECONDS:
                self._died_at[slot] = 0.0
                process.close()
                self._start(slot)

    def stop(self, grace: float) -> None:
        """Let in-flight transactions finish (up to `grace` seconds in all), then end the rest."""
        self._stopping.value = 1
        deadline = time.monotonic() + grace
        for process in self._processes:
            if process is not None and process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process is not None and process.is_alive():
                # it ignores SIGTERM (see serve_in_process); its claims are handed back by
                # the next dispatcher on this host
                log.warning("dispatcher process %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()
        for slot in range(self.count):
            self._close_waker(slot)


# In a dispatcher process


def serve_in_process(
    settings: Settings,
    stopping: Synchronized[int],
    woken: socket.socket,
    engine_pid: int,
    log_level: int,
) -> None:
    """Dispatch until the engine (process `engine_pid`) sets `stopping` or goes away: told by
    the engine, not read here, as the engine may be gone before this process is up.

    Ctrl-C and SIGTERM reach the whole process group: stopping is the engine's to decide, so
    that no SMTP transaction is cut short by them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    for noisy in ("aiosmtpd", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    hand_over_often()  # composing threads beside the one recording outcomes
    asyncio.run(_serve(settings, stopping, woken, engine_pid))


async def _serve(
    settings: Settings, stopping: Synchronized[int], woken: socket.socket, engine_pid: int
) -> None:
    database = Database(settings.database.url)
    database.leave_checkpoints_to_engine()  # `store.wal_checkpoints`
    library = TemplateLibrary(settings.paths.templates, shop_locale=settings.locale)
    composer = settings_composer(settings, library)
    transport = SmtpTransport.from_settings(settings.smtp)
    dispatcher = Dispatcher(
        database,
        transport,
        composer,
        SystemClock(),
        options=dispatch_options(settings, in_engine_process=False),
    )
    await asyncio.to_thread(dispatcher.start)  # composers up and the heap settled, as the engine's
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_wait_for_stop,
        args=(stopping, engine_pid, lambda: loop.call_soon_threadsafe(stop.set)),
        name="stop-watch",
        daemon=True,
    ).start()
    woken.setblocking(False)
    loop.add_reader(woken, _on_wake, woken, dispatcher)
    try:
        await dispatcher.serve(
            stop,
            idle_seconds=settings.engine.dispatch_poll_seconds,
            grace_seconds=SEND_GRACE_SECONDS,
        )
    finally:
        with contextlib.suppress(ValueError, OSError):  # closed already
            loop.remove_reader(woken)
        woken.close()
        await transport.aclose()
        database.dispose()
        report = dispatcher.report
        log.info(
            "dispatcher process stopped: %d sent, %d deferred, %d failed, %d suppressed",
            report.sent,
            report.deferred,
            report.failed,
            report.suppressed,
        )


def _on_wake(woken: socket.socket, dispatcher: Dispatcher) -> None:
    """The engine planned mail: look for it now. (End of file: the engine is gone, which
    the stop watch sees.)"""
    try:
        said = woken.recv(4096)
    except BlockingIOError:
        return
    except OSError:
        said = b""
    if said:
        dispatcher.nudge()
    else:
        asyncio.get_running_loop().remove_reader(woken)


def _wait_for_stop(
    stopping: Synchronized[int], engine_pid: int, stop: Callable[[], object]
) -> None:
    while not stopping.value:
        time.sleep(STOP_CHECK_SECONDS)
        if os.getppid() != engine_pid:
            log.warning("the engine went away; stopping after the messages in flight")
            break
    stop()
