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
"""

from __future__ import annotations

import logging
import os
import sys
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
WAITING_SUFFIX = "-waiting"  # held shared by processes waiting for the turn
TURN_POLL_FIRST = 0.0001  # seconds between asks for another process's turn, doubling...
# ...up to this (SQLite's own busy handler sleeps up to 0.1 s). The statements of an API
# group commit take ~0.5 ms: asked every 4 ms, a turn let go of could stay unused up to 4 ms
# while the HTTP workers and the engine took turns; each ask costs a few microseconds.
TURN_POLL_MOST = 0.001
# A process that lets go of the turn while an HTTP worker waits for it (`announce_waits`) asks
# again only this long after: one poll of the waiter's later. Asking again at once, it took the
# turn back before the waiter's next poll nearly every time: traced under 500 orders/s, the
# waits of the API's writers over 30 ms were the engine's units of work back to back (53 %)
# and the other HTTP worker's groups (29 %, 2.7 of them in each such wait).
HAND_OVER_SECONDS = TURN_POLL_MOST * 1.2

log = logging.getLogger(__name__)

_TURNS: dict[Path, WriteTurn] = {}
_TURNS_GUARD = threading.Lock()


class WriteTurn:
    """The write turn of one SQLite file in this process (every `Database` of the file shares
    it: the engine's and the in-process app's)."""

    def __init__(self, database: Path, wait_seconds: float) -> None:
        self.lock_file = database.with_name(database.name + LOCK_SUFFIX)
        self._wait_seconds = wait_seconds
        self._threads = threading.RLock()
        self._depth = 0  # units of work of the thread holding the turn (nested: one flock)
        self._descriptor: int | None = None
        self._opened_by = 0  # the pid that opened it: a forked child opens its own
        self._holding = False  # this process holds the file lock
        self.waiting_file = self.lock_file.with_name(self.lock_file.name + WAITING_SUFFIX)
        self._waiting: int | None = None  # held shared while this process waits for the turn
        self._probe: int | None = None  # tried exclusively to see whether anyone waits
        self._waiting_opened_by = 0
        self._handed_over_at = 0.0  # when this process let go of the turn to a waiter

    @contextmanager
    def __call__(self) -> Iterator[None]:
        """The turn, for as long as the block runs. A thread that waited the busy timeout for
        another thread goes on without it and leaves the wait to SQLite, as without a turn."""
        if not self._threads.acquire(timeout=self._wait_seconds):
            yield
            return
        try:
            if self._depth == 0:
                self._lock_processes()
                _writers_here.enter()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    _writers_here.leave()
                    self._unlock_processes()
        finally:
            self._threads.release()

    def _lock_processes(self) -> None:
        if fcntl is None:
            return
        if self._handed_over_at:  # a waiter's turn first (`HAND_OVER_SECONDS`)
            pause = self._handed_over_at + HAND_OVER_SECONDS - time.monotonic()
            self._handed_over_at = 0.0
            if pause > 0:
                time.sleep(pause)
        if self._descriptor is None or self._opened_by != os.getpid():
            self._descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._opened_by = os.getpid()
        # Asked without blocking, up to a millisecond apart, for at most the busy timeout: a
        # process that hangs holding the turn (stopped, in a debugger) never freezes the
        # others; past the timeout they go on without it and SQLite's busy handler decides.
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _announcing:
                self._wait_for_processes()
                return
            waiting = self._waiting_descriptors()[0]
            fcntl.flock(waiting, fcntl.LOCK_SH)  # seen by `others_waiting` until the turn comes
            try:
                self._wait_for_processes()
            finally:
                fcntl.flock(waiting, fcntl.LOCK_UN)
        else:
            self._holding = True

    def _wait_for_processes(self) -> None:
        assert fcntl is not None and self._descriptor is not None
        deadline = time.monotonic() + self._wait_seconds
        pause = TURN_POLL_FIRST
        while True:
            try:
                fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("no write turn on %s in %.0f s", self.lock_file, self._wait_seconds)
                    self._holding = False
                    return
                time.sleep(pause)
                pause = min(pause * 2, TURN_POLL_MOST)
            else:
                self._holding = True
                return

    def others_waiting(self) -> bool:
        """Whether another process that announces its waits (`announce_waits`) is waiting
        for the turn now: one that holds it may then make its next unit of work shorter."""
        if fcntl is None:
            return False
        probe = self._waiting_descriptors()[1]
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False

    def _waiting_descriptors(self) -> tuple[int, int]:
        """(held shared while waiting, tried exclusively): two opens of the waiting file, as
        a flock belongs to the open file, not the process."""
        if self._waiting is None or self._probe is None or self._waiting_opened_by != os.getpid():
            flags = os.O_RDWR | os.O_CREAT
            self._waiting = os.open(self.waiting_file, flags, 0o600)
            self._probe = os.open(self.waiting_file, flags, 0o600)
            self._waiting_opened_by = os.getpid()
        return self._waiting, self._probe

    def _unlock_processes(self) -> None:
        if fcntl is not None and self._descriptor is not None and self._holding:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            self._holding = False
            try:
                waited = self.others_waiting()
            except OSError:  # the waiting file cannot be opened: nobody is seen waiting
                waited = False
            self._handed_over_at = time.monotonic() if waited else 0.0


# How often a process whose threads both compute (composing mail) and write hands the
# interpreter from thread to thread. A thread holding the write turn gives the interpreter up
# at every statement and waits for it again behind the computing threads, each keeping it for
# up to the switch interval (5 ms by default): a unit of work of 1 ms of statements held the
# turn for up to 80-120 ms, and the API's writers waited for it.
WRITER_SWITCH_SECONDS = 0.0005


_announcing = False  # whether this process's waits for the turn are seen by `others_waiting`

# How long into a unit of work of its process's writers computing threads stand aside
# (`stand_aside_for_writers`): a unit of work of a few milliseconds is waited out; past this a
# long one (a chunk of a broadcast's planning) no longer holds composing back.
STAND_ASIDE_SECONDS = 0.02


class _WritersHere:
    """Whether a thread of this process holds a write turn (of any file) now."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._holding = 0
        self.since = 0.0  # when the first of those holding now took its turn
        self.none = threading.Event()
        self.none.set()

    def enter(self) -> None:
        with self._guard:
            self._holding += 1
            if self._holding == 1:
                self.since = time.monotonic()
                self.none.clear()

    def leave(self) -> None:
        with self._guard:
            self._holding -= 1
            if self._holding == 0:
                self.none.set()


_writers_here = _WritersHere()


def stand_aside_for_writers(most: float = STAND_ASIDE_SECONDS) -> bool:
    """For threads that only compute (composing mail), between two pieces of work: while
    another thread of this process holds a write turn, wait for its end, up to `most` seconds
    after it began, so that the interpreter goes to the writer and the turn is held for the
    time of its own work. Beside two composing threads the engine's units of work held the
    turn 2-3 times their own CPU time, every other writer of the file waiting. Whether it
    waited."""
    if _writers_here.none.is_set():
        return False
    left = _writers_here.since + most - time.monotonic()
    if left <= 0:
        return False
    _writers_here.none.wait(left)
    return True


def announce_waits() -> None:
    """Let the process holding the turn see when this one waits for it: the HTTP workers,
    whose answers wait for their writes, so that the engine keeps its units of work short
    while they wait (`engine.service`); the engine's own writers and the dispatchers' are
    not announced, so that sending never slows the engine's planning."""
    global _announcing
    _announcing = True


def hand_over_often() -> None:
    """Let a thread holding the write turn have the interpreter back soon (see above)."""
    sys.setswitchinterval(WRITER_SWITCH_SECONDS)


def write_turn(database: str, wait_seconds: float) -> WriteTurn:
    """The write turn of the SQLite file at `database` in this process."""
    key = Path(database).resolve()
    with _TURNS_GUARD:
        turn = _TURNS.get(key)
        if turn is None:
            turn = _TURNS[key] = WriteTurn(key, wait_seconds)
        return turn
