"""Copying a SQLite file's write-ahead log into the database outside the write turn.

By default the commit that brings the WAL to 1,000 pages copies them into the database file
and syncs it before it returns: under 500 orders/s that was ten times a second, 10-17 ms each,
inside the write turn (`store.write_turn`) every other writer queued for, and a fifth of the
time the turn was held. In `mailengine run` the engine's thread does it instead
(`Database.leave_checkpoints_to_engine` in each of its processes): a PASSIVE checkpoint,
which waits for no writer and no reader, every `PERIOD_SECONDS`, outside the turn.

A checkpoint beside a steady stream of commits never catches up with the last one, and SQLite
starts the log over from its beginning only at a writer that began when every page had been
copied: alone, the WAL would grow for as long as writes come. So once it holds
`RESTART_PAGES`, the thread takes the turn and checkpoints again (only the pages committed
meanwhile: a few milliseconds), and the next writer starts the log over.

May import: store.database (the file, its write turn).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

from mailengine.store.database import SQLITE_BUSY_SECONDS, Database

log = logging.getLogger(__name__)
PERIOD_SECONDS = 0.25
RESTART_PAGES = 8_000  # 32 MB of 4 KB pages; the backstop is `BACKSTOP_CHECKPOINT_PAGES`


@dataclass(frozen=True)
class Checkpointed:
    """What one pass did: pages in the log and copied, outside the turn and then within it
    (0 and 0 when the log was short enough to leave)."""

    pages: int
    copied: int
    pages_in_turn: int = 0
    copied_in_turn: int = 0


class WalCheckpoints:
    """The engine's checkpointer of one SQLite file (a thread of its own)."""

    def __init__(self, database: Database, *, restart_pages: int = RESTART_PAGES) -> None:
        if database.sqlite_file is None:
            raise ValueError("WAL checkpoints are for a SQLite file")
        self._database = database
        self._file = database.sqlite_file
        self._restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None

    def start(self) -> None:
        self._database.leave_checkpoints_to_engine()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def once(self) -> Checkpointed:
        """One pass: copy what the log holds; past `restart_pages`, again within the turn."""
        pages, copied = self._checkpoint()
        if pages < self._restart_pages:
            return Checkpointed(pages, copied)
        with self._database.write_turn():
            in_turn, copied_in_turn = self._checkpoint()
        return Checkpointed(pages, copied, in_turn, copied_in_turn)

    def _run(self) -> None:
        try:
            while not self._stop.wait(PERIOD_SECONDS):
                try:
                    self.once()
                except sqlite3.Error as error:  # the next pass tries again; commits checkpoint
                    log.warning("WAL checkpoint of %s failed: %s", self._file, error)
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _checkpoint(self) -> tuple[int, int]:
        if self._connection is None:
            self._connection = sqlite3.connect(
                self._file, timeout=SQLITE_BUSY_SECONDS, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
        row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(0, int(row[1])), max(0, int(row[2]))
