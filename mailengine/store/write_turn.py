"""Whose turn it is to write to one SQLite file: threads of a process, and processes.

SQLite's busy handler waits for the write lock by polling it, with sleeps of up to 100 ms. A
dispatcher process whose outcome commit found the lock taken by the engine (the API's group
commit, the planner) slept on long after it was free, and looked again only at moments the
engine, handing the lock from thread to thread at once, held it again: under 500 orders/s
each sent message waited tens of milliseconds to be recorded, and mail left at half the rate
orders came in.

So units of work queue before they ask SQLite: threads of one process on a thread lock, and
then the processes on an advisory `flock` of a file beside the database (`<file>-writelock`),
which the kernel lets go of when its process ends, however it ends; a process waiting for it
asks every 0.1-1 ms (not SQLite's up to 100 ms), and for at most the busy timeout.
The lock decides nothing about correctness: SQLite's own lock still guards every write, and
writers that do not take a turn (a schema upgrade, the scheduler's job store) wait for it in
SQLite's busy handler, as before.

An urgent unit of work goes ahead of the others: a dispatcher's SMTP workers wait for their
outcomes to be stored before they take their next message, and each such commit holds the
turn for about half a millisecond, while the API's group commits and the engine's rounds hold
it for 5-20 ms each and follow one another at once in the engine's process (one thread hands
the thread lock to the next before another process's next ask). Under 500 orders/s an outcome
commit waited p90 18 ms, p99 95 ms for its turn and mail left at half the rate orders came
in. So threads of a process wait while one of its urgent units of work waits, and an urgent
unit of work holds a shared lock on a second file (`<file>-writelock-urgent`) while it asks
for the turn (every 0.05-0.25 ms): a unit of work that is not urgent, about to ask for the
turn, first waits while that file is locked, for up to `YIELD_MOST` seconds (so a stream of
urgent ones never stops the others).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: processes then wait in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = "-writelock"
URGENT_SUFFIX = "-writelock-urgent"
TURN_POLL_FIRST = 0.0001  # seconds between asks for another process's turn, doubling...
# ...up to this (SQLite's own busy handler sleeps up to 0.1 s). The statements of an API
# group commit take ~0.5 ms: asked every 4 ms, a turn let go of could stay unused up to 4 ms
# while the HTTP workers and the engine took turns; each ask costs a few microseconds.
TURN_POLL_MOST = 0.001
URGENT_POLL_FIRST = 0.00005  # an urgent unit of work asks this often at first...
URGENT_POLL_MOST = 0.00025  # ...and at least this often
YIELD_MOST = 0.02
"""The longest a unit of work that is not urgent waits for urgent ones before it asks."""

log = logging.getLogger(__name__)

_TURNS: dict[Path, WriteTurn] = {}
_TURNS_GUARD = threading.Lock()


class WriteTurn:
    """The write turn of one SQLite file in this process (every `Database` of the file shares
    it: the engine's and the in-process app's)."""

    def __init__(self, database: Path, wait_seconds: float) -> None:
        self.lock_file = database.with_name(database.name + LOCK_SUFFIX)
        self.urgent_file = database.with_name(database.name + URGENT_SUFFIX)
        self._wait_seconds = wait_seconds
        self._threads = threading.Condition()
        self._owner: int | None = None  # the thread holding the turn
        self._depth = 0  # its units of work (nested: one flock)
        self._urgent_waiting = 0  # this process's urgent threads waiting for the turn
        self._descriptor: int | None = None
        self._urgent_descriptor: int | None = None
        self._opened_by = 0  # the pid that opened them: a forked child opens its own
        self._holding = False  # this process holds the file lock

    @contextmanager
    def __call__(self, *, urgent: bool = False) -> Iterator[None]:
        """The turn, for as long as the block runs; `urgent` goes ahead of the units of work
        that are not. A thread that waited the busy timeout for another thread goes on
        without it and leaves the wait to SQLite, as without a turn."""
        if not self._take_from_threads(urgent):
            yield
            return
        try:
            if self._depth == 1:
                self._lock_processes(urgent)
            yield
        finally:
            with self._threads:
                self._depth -= 1
                if self._depth == 0:
                    self._unlock_processes()
                    self._owner = None
                    self._threads.notify_all()

    def _take_from_threads(self, urgent: bool) -> bool:
        me = threading.get_ident()
        with self._threads:
            if self._owner == me:
                self._depth += 1
                return True
            if urgent:
                self._urgent_waiting += 1
            try:
                free = self._threads.wait_for(
                    lambda: self._owner is None and (urgent or not self._urgent_waiting),
                    timeout=self._wait_seconds,
                )
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            if not free:
                return False
            self._owner, self._depth = me, 1
            return True

    def _open(self) -> tuple[int, int]:
        if (
            self._descriptor is None
            or self._urgent_descriptor is None
            or self._opened_by != os.getpid()
        ):
            self._descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._urgent_descriptor = os.open(self.urgent_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._opened_by = os.getpid()
        return self._descriptor, self._urgent_descriptor

    def _lock_processes(self, urgent: bool) -> None:
        if fcntl is None:
            return
        descriptor, urgent_descriptor = self._open()
        # Asked without blocking, up to a millisecond apart, for at most the busy timeout: a
        # process that hangs holding the turn (stopped, in a debugger) never freezes the
        # others; past the timeout they go on without it and SQLite's busy handler decides.
        deadline = time.monotonic() + self._wait_seconds
        if urgent:
            announced = _try_flock(urgent_descriptor, fcntl.LOCK_SH)
            pause, most, yield_until = URGENT_POLL_FIRST, URGENT_POLL_MOST, 0.0
        else:
            announced = False
            pause, most = TURN_POLL_FIRST, TURN_POLL_MOST
            yield_until = time.monotonic() + YIELD_MOST
        try:
            while True:
                if (
                    yield_until
                    and time.monotonic() < yield_until
                    and _urgent_asking(urgent_descriptor)
                ):
                    pause = URGENT_POLL_FIRST  # it is about to take the turn: look again soon
                elif _try_flock(descriptor, fcntl.LOCK_EX):
                    self._holding = True
                    return
                if time.monotonic() >= deadline:
                    log.warning("no write turn on %s in %.0f s", self.lock_file, self._wait_seconds)
                    self._holding = False
                    return
                time.sleep(pause)
                pause = min(pause * 2, most)
                if urgent and not announced:  # another was looking at that moment
                    announced = _try_flock(urgent_descriptor, fcntl.LOCK_SH)
        finally:
            if announced:
                fcntl.flock(urgent_descriptor, fcntl.LOCK_UN)

    def _unlock_processes(self) -> None:
        if fcntl is not None and self._descriptor is not None and self._holding:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            self._holding = False


def _try_flock(descriptor: int, kind: int) -> bool:
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _urgent_asking(urgent_descriptor: int) -> bool:
    """Whether another process's urgent unit of work is asking for the turn (it holds a
    shared lock on the urgent file)."""
    if not _try_flock(urgent_descriptor, fcntl.LOCK_EX):
        return True
    fcntl.flock(urgent_descriptor, fcntl.LOCK_UN)
    return False


def write_turn(database: str, wait_seconds: float) -> WriteTurn:
    """The write turn of the SQLite file at `database` in this process."""
    key = Path(database).resolve()
    with _TURNS_GUARD:
        turn = _TURNS.get(key)
        if turn is None:
            turn = _TURNS[key] = WriteTurn(key, wait_seconds)
        return turn
