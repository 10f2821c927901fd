"""Composing a batch of messages, on threads of the dispatcher or in worker processes.

Threads share the GIL: rendering and MIME are Python and run one at a time, only the DKIM
signature (OpenSSL) overlaps, so a dispatcher with threads keeps a little over one core busy.
Between two messages a thread stands aside while another thread of its process holds
SQLite's write turn (`store.write_turn.stand_aside_for_writers`).
Worker processes each hold a composer of their own, rebuilt once from a pickle of the
dispatcher's (settings, templates folder, DKIM key), and keep every core busy.

The dispatcher decides with its database what must not go (consent, suppression); only what
is to be composed crosses to the workers, in chunks, as plain records, and comes back as the
message ready to send or as the `SendOutcome` that settles that one send (a render error). The
workers are started with "spawn": the dispatcher has threads and open database connections,
which a forked child would inherit in whatever state they were in.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from multiprocessing import get_context
from multiprocessing.sharedctypes import Synchronized
from typing import Protocol

from mailengine.errors import MailengineError, RenderError
from mailengine.heap import settle_heap
from mailengine.outbound.composer import Composer
from mailengine.outbound.tracking_links import LinkList
from mailengine.outbound.transport.base import Envelope
from mailengine.render.template_sources import TemplateSources
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.recipients import RecipientSnapshot
from mailengine.store.records import ClaimedSend, SendOutcome
from mailengine.store.write_turn import stand_aside_for_writers

log = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 1.0
"""How often a worker looks whether the dispatcher that started it is still there."""

WORKER_KILLED = "cannot build: composing this message killed the worker process composing it"
"""The reply of a send that killed its worker when composed alone, after a worker had died
composing its batch."""

CHUNKS_PER_WORKER = 4
"""A batch goes to the workers in about this many chunks each: few enough that the pipe's
cost per message stays small, enough that a worker done early takes another."""


@dataclass(frozen=True)
class ComposeTask:
    """Everything composing one message needs: the send, its recipient as they are now, the
    coupon issued for it, and the stored sources of its template when it renders a stored
    version (None: the templates folder's)."""

    send: ClaimedSend
    recipient: RecipientSnapshot
    coupon: IssuedCoupon | None = None
    template: TemplateSources | None = None


@dataclass(frozen=True)
class ReadyToSend:
    """What the dispatcher needs of a composed message: its signed bytes and tracked links.

    The rendered bodies (a `ComposedMessage`'s) are in those bytes already; leaving them out
    halves what comes back through a worker's pipe, and the dispatcher's process, the busiest,
    spends 0.09 ms on a message's trip instead of 0.16.
    """

    envelope: Envelope
    links: LinkList | None = None  # its tracked links, stored before it is sent


Composed = ReadyToSend | SendOutcome
"""A message ready to send, or the outcome that settles its send without SMTP."""


class ComposeWorkerLost(MailengineError, RuntimeError):
    """A compose worker process died (killed, out of memory) before its batch was composed."""


def compose_or_settle(composer: Composer, task: ComposeTask, now: datetime) -> Composed:
    """The finished message, or a failed outcome naming why this one cannot be built.

    A render error is one customer's: it settles their send and no other. The error becomes
    text here, where it happens, so that nothing but plain records crosses a process boundary.
    """
    send = task.send
    try:
        composed = composer.compose(send, task.recipient, now, task.coupon, task.template)
    except RenderError as error:
        return SendOutcome(send.id, "failed", reply=f"render error: {error}")
    except MailengineError as error:  # e.g. a header that cannot be written safely
        return SendOutcome(send.id, "failed", reply=f"cannot build: {error}")
    tracked = composed.tracked
    return ReadyToSend(composed.envelope, tracked.links if tracked is not None else None)


class Composing(Protocol):
    """Composes a batch, results in the order of the tasks; `close` stops its workers."""

    def start(self) -> None: ...

    def compose(self, tasks: Sequence[ComposeTask], now: datetime) -> list[Composed]: ...

    def close(self) -> None: ...


class ComposeThreads:
    """Threads of this process: while one waits for OpenSSL's signature (the GIL released),
    another renders. Each takes a chunk of a batch at a time (CHUNKS_PER_WORKER each): a
    message handed over on its own cost some 6 us of CPU in futures, locks and wake-ups."""

    def __init__(self, composer: Composer, threads: int) -> None:
        self._composer = composer
        self._threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="compose")

    def start(self) -> None:
        """A thread starts in no time; the heap is settled here (`settle_heap`), not at the
        first batch."""
        settle_heap(composed=False)

    def compose(self, tasks: Sequence[ComposeTask], now: datetime) -> list[Composed]:
        size = max(1, math.ceil(len(tasks) / (self._threads * CHUNKS_PER_WORKER)))
        chunks = [tasks[start : start + size] for start in range(0, len(tasks), size)]
        composing = partial(_compose_chunk, self._composer, now=now)
        composed = [result for chunk in self._executor.map(composing, chunks) for result in chunk]
        settle_heap()
        return composed

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _compose_chunk(
    composer: Composer, tasks: Sequence[ComposeTask], now: datetime
) -> list[Composed]:
    composed = []
    for task in tasks:
        stand_aside_for_writers()  # the process's unit of work first: it holds the write turn
        composed.append(compose_or_settle(composer, task, now))
    return composed


class ComposeProcesses:
    """Worker processes, each with a composer rebuilt from a pickle of `composer`.

    The pickle is made here, once: a composer that cannot cross (a signer of another kind) fails
    at construction, not in a worker. Workers start with the first batch, or at `start`. When
    one dies, new workers compose that batch again one message at a time: a message that kills
    its worker again fails alone (see `_one_at_a_time`).
    """

    def __init__(self, composer: Composer, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"compose processes must be 1 or more, not {processes}")
        self.processes = processes
        self._description = pickle.dumps(composer, protocol=pickle.HIGHEST_PROTOCOL)
        self._executor: ProcessPoolExecutor | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start every worker now and return once each has built its composer.

        A worker takes about a second and a half to start (imports, mostly); without this the
        first batch waits for that, and a worker that cannot start is found only then.
        """
        if self._executor is not None:
            return
        executor = self._workers()
        # On a new pool each call starts one more worker; each waits until all are up.
        waiting = [
            executor.submit(_wait_for_all, self.processes, timeout) for _ in range(self.processes)
        ]
        try:
            for future in waiting:
                future.result()
        except BrokenProcessPool as error:
            self.close()
            raise ComposeWorkerLost(
                f"the compose worker processes did not start ({error})"
            ) from None

    def compose(self, tasks: Sequence[ComposeTask], now: datetime) -> list[Composed]:
        if not tasks:
            return []
        chunksize = math.ceil(len(tasks) / (self.processes * CHUNKS_PER_WORKER))
        executor = self._workers()
        try:
            return list(executor.map(partial(_compose, now=now), tasks, chunksize=chunksize))
        except BrokenProcessPool as error:
            self._discard(executor)
            log.warning(
                "a compose worker process died while composing a batch of %d messages (%s); "
                "composing them one at a time",
                len(tasks),
                error,
            )
        return self._one_at_a_time(tasks, now)

    def _one_at_a_time(self, tasks: Sequence[ComposeTask], now: datetime) -> list[Composed]:
        """After a worker died: each message on its own, so that one that kills its worker
        (a template exhausting memory on one customer's data) settles as failed and the rest
        of its batch still goes. When most messages kill their worker (at least three), it is
        no message's doing: the batch is given up (ComposeWorkerLost), its claims handed back.
        """
        results: list[Composed] = []
        deaths = 0
        for attempted, task in enumerate(tasks, start=1):
            executor = self._workers()
            try:
                results.append(executor.submit(_compose, task, now).result())
                continue
            except BrokenProcessPool as error:
                self._discard(executor)
                deaths += 1
                if deaths >= 3 and 2 * deaths > attempted:
                    raise ComposeWorkerLost(
                        f"compose worker processes died on {deaths} of {attempted} messages "
                        f"composed one at a time ({error}); new workers are started for the "
                        "next batch"
                    ) from None
            log.error("composing outbox %s killed its worker process", task.send.id)
            results.append(SendOutcome(task.send.id, "failed", reply=WORKER_KILLED))
        return results

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _workers(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = get_context("spawn")
            started = context.Value("i", 0)
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self._description, started),
            )
        return self._executor


# In a worker process

_composer: Composer | None = None
_started: Synchronized[int] | None = None


def _start_worker(description: bytes, started: Synchronized[int]) -> None:
    """Build this worker's composer. Stopping is the dispatcher's to decide: a Ctrl-C or a
    SIGTERM sent to the whole process group must not kill a batch half composed. A dispatcher
    that dies (kill -9) cannot stop its workers, and they would wait on their pipe for ever (a
    worker holds both ends of it): each goes when it finds its parent gone."""
    global _composer, _started
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()
    _composer = pickle.loads(description)  # made by the parent process, not read from outside
    _started = started
    with started.get_lock():
        started.value += 1


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _wait_for_all(processes: int, timeout: float) -> None:
    """Return once `processes` workers have built their composer (or after `timeout`)."""
    assert _started is not None, "the worker's initializer counts itself in"
    deadline = time.monotonic() + timeout
    while _started.value < processes and time.monotonic() < deadline:
        time.sleep(0.01)


def _compose(task: ComposeTask, now: datetime) -> Composed:
    assert _composer is not None, "the worker's initializer builds the composer"
    composed = compose_or_settle(_composer, task, now)
    settle_heap()
    return composed
