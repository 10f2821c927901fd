"""Which engine process runs the schedules: one per cluster, chosen by a PostgreSQL lock.

Several `mailengine run` processes share enrollments and sends through SKIP LOCKED claims,
but APScheduler has no locking of its own: only the holder of an advisory lock keeps the
persistent schedule jobs. On SQLite there is one engine, which always leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from mailengine.store.database import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x6D61696C656E67  # "maileng"


class Leadership:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Connection | None = None

    @property
    def leading(self) -> bool:
        return not self._database.is_postgresql or self._connection is not None

    def try_lead(self) -> bool:
        """Take the lock if it is free; the lock lives as long as this process's connection."""
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

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
