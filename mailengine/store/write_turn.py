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
TURN_POLL_FIRST = 0.0001  # seconds between asks for another process's turn, doubling...
# ...up to this (SQLite's own busy handler sleeps up to 0.1 s). The statements of an API
# group commit take ~0.5 ms: asked every 4 ms, a turn let go of could stay unused up to 4 ms
# while the HTTP workers and the engine took turns; each ask costs a few microseconds.
TURN_POLL_MOST = 0.001

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
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._unlock_processes()
        finally:
            self._threads.release()

    def _lock_processes(self) -> None:
        if fcntl is None:
            return
        if self._descriptor is None or self._opened_by != os.getpid():
            self._descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._opened_by = os.getpid()
        # Asked without blocking, up to a millisecond apart, for at most the busy timeout: a
        # process that hangs holding the turn (stopped, in a debugger) never freezes the
        # others; past the timeout they go on without it and SQLite's busy handler decides.
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

    def _unlock_processes(self) -> None:
        if fcntl is not None and self._descriptor is not None and self._holding:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            self._holding = False


def write_turn(database: str, wait_seconds: float) -> WriteTurn:
    """The write turn of the SQLite file at `database` in this process."""
    key = Path(database).resolve()
    with _TURNS_GUARD:
        turn = _TURNS.get(key)
        if turn is None:
            turn = _TURNS[key] = WriteTurn(key, wait_seconds)
        return turn
