"""Which engine process runs the schedules: one per cluster, chosen by a PostgreSQL lock.

Several `mailengine run` processes share enrollments and sends through SKIP LOCKED claims,
but APScheduler has no locking of its own: only the holder of an advisory lock keeps the
persistent schedule jobs. The lock lives as long as the database session that took it: when
that connection dies (a restarted server, a network cut, `pg_terminate_backend`), the lock is
gone and another engine may take it, so the holder checks it before acting on it. On SQLite
there is one engine, which always leads.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, text

from mailengine.store.database import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x6D61696C656E67  # "maileng"
# pg_locks shows a bigint advisory key as its high and low 32 bits (objsubid 1).
_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
    " AND classid::bigint = :high AND objid::bigint = :low)"
)


class Leadership:
    """The advisory lock of one engine process; safe to use from several threads."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Connection | None = None
        self._guard = threading.RLock()  # one statement at a time on the lock's connection

    @property
    def leading(self) -> bool:
        """What this process last knew; `confirm` asks the database."""
        return not self._database.is_postgresql or self._connection is not None

    def try_lead(self) -> bool:
        """Take the lock if it is free, on a connection of its own."""
        with self._guard:
            return self._try_lead()

    def _try_lead(self) -> bool:
        if self.leading:
            return True
        connection = self._database.engine.connect()
        try:
            taken = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
                ).scalar_one()
            )
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        log.info("this engine now runs the schedules")
        return True

    def confirm(self) -> bool:
        """Whether this process still holds the lock: a query on the lock's own connection.
        A connection that fails has lost the lock (its session ended); it is dropped."""
        with self._guard:
            return self._confirm()

    def _confirm(self) -> bool:
        if not self._database.is_postgresql:
            return True
        connection = self._connection
        if connection is None:
            return False
        try:
            held = bool(
                connection.execute(
                    _HELD, {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF}
                ).scalar_one()
            )
            connection.commit()
        except Exception as error:
            log.warning("the connection holding the schedule lock failed: %s", _first_line(error))
            held = False
        if not held:
            self._drop()
        return held

    def release(self) -> None:
        """Give the lock back; never fails (shutting down goes on): a connection that cannot
        unlock is closed for good, which ends its session and so the lock."""
        with self._guard:
            self._release()

    def _release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            connection.commit()
        except Exception as error:
            log.warning(
                "could not give back the schedule lock (%s); its connection is closed instead",
                _first_line(error),
            )
            self._drop()
            return
        self._connection = None
        try:
            connection.close()
        except Exception as error:
            log.warning("closing the schedule lock's connection failed: %s", _first_line(error))

    def _drop(self) -> None:
        """Forget the lock's connection, closing it rather than returning it to the pool."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.invalidate()
            connection.close()
        except Exception as error:
            log.warning("closing the schedule lock's connection failed: %s", _first_line(error))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
