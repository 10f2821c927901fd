"""Units of work on SQLite take the write lock as they begin, so read-then-write never fails."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from mailengine.store import database as database_module
from mailengine.store.database import Database
from mailengine.store.write_turn import LOCK_SUFFIX, WriteTurn


@pytest.fixture
def counters(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'units.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (name TEXT PRIMARY KEY, value INT)"))
        session.execute(text("INSERT INTO counter VALUES ('sent', 0)"))
    return database


def test_a_unit_of_work_that_reads_first_is_not_undone_by_another_writer(
    counters: Database,
) -> None:
    """Without the lock taken at BEGIN, the second writer commits between the read and the
    write of the first, whose write then fails at once (SQLITE_BUSY_SNAPSHOT); with it, the
    second waits, and both increments count."""
    has_read = threading.Event()
    failures: list[BaseException] = []

    def other_writer() -> None:
        has_read.wait(5)
        try:
            with counters.transaction() as session:
                session.execute(text("UPDATE counter SET value = value + 1"))
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    writer = threading.Thread(target=other_writer)
    writer.start()
    with counters.transaction() as session:
        value = session.execute(text("SELECT value FROM counter")).scalar_one()
        has_read.set()
        writer.join(0.3)  # the other writer is waiting for the lock, not committing
        assert writer.is_alive()
        session.execute(text("UPDATE counter SET value = :value"), {"value": value + 1})
    writer.join(5)
    assert failures == []
    with counters.session() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar_one() == 2
    counters.dispose()


def test_plain_reads_do_not_take_the_write_lock(counters: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "units.db", timeout=0.1, isolation_level=None)
    with counters.session() as session:
        session.execute(text("SELECT value FROM counter")).scalar_one()
        other.execute("BEGIN IMMEDIATE")  # would raise "database is locked"
        other.execute("ROLLBACK")
    with counters.transaction() as session:
        session.execute(text("SELECT value FROM counter")).scalar_one()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()
    counters.dispose()


def test_threads_of_one_process_hand_the_write_lock_over_without_sqlite_polling(
    counters: Database, tmp_path: Path
) -> None:
    """Units of work of one process on one file wait for each other on a thread lock (handed
    over at once), not in SQLite's busy handler (which sleeps up to 100 ms between looks):
    with the busy timeout at 0, the second still waits its turn instead of failing, also
    through another `Database` of the same file (the engine's and the app's)."""

    def no_busy_wait(connection: sqlite3.Connection, _record: object) -> None:
        connection.execute("PRAGMA busy_timeout = 0")

    second = Database(f"sqlite:///{tmp_path / 'units.db'}")
    for database in (counters, second):
        database.engine.dispose()
        event.listen(database.engine, "connect", no_busy_wait)
    started = threading.Event()
    failures: list[BaseException] = []

    def other_writer() -> None:
        started.set()
        try:
            with second.transaction() as session:
                session.execute(text("UPDATE counter SET value = value + 1"))
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    writer = threading.Thread(target=other_writer)
    with counters.transaction() as session:
        session.execute(text("UPDATE counter SET value = value + 1"))
        writer.start()
        started.wait(5)
        writer.join(0.2)
        assert writer.is_alive()  # waiting for its turn
    writer.join(5)
    assert failures == []
    with counters.session() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar_one() == 2
    counters.dispose()
    second.dispose()


OTHER_PROCESS_WRITER = """
import sys
from sqlalchemy import event, text
from mailengine.store import database as database_module
from mailengine.store.database import Database

database = Database(sys.argv[1])
event.listen(
    database.engine, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout = 0")
)
print("begin", flush=True)
with database.transaction() as session:
    session.execute(text("UPDATE counter SET value = value + 1"))
print("committed", flush=True)
"""


def test_processes_hand_the_write_lock_over_without_sqlite_polling(
    counters: Database, tmp_path: Path
) -> None:
    """A unit of work of another process (a dispatcher process) waits for this one's end in
    the write turn's file lock, which the kernel hands over at once, not in SQLite's busy
    handler (which sleeps up to 100 ms between looks while the engine's threads hand the
    lock to each other): with the busy timeout at 0 it still waits instead of failing."""
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS_WRITER, f"sqlite:///{tmp_path / 'units.db'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None
    with counters.transaction() as session:
        session.execute(text("UPDATE counter SET value = value + 1"))
        assert other.stdout.readline() == "begin\n"
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(0.5)  # waiting for its turn
    out, err = other.communicate(timeout=60)
    assert (other.returncode, out) == (0, "committed\n"), err
    with counters.session() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar_one() == 2
    assert (tmp_path / f"units.db{LOCK_SUFFIX}").exists()
    counters.dispose()


def test_a_process_that_hangs_holding_the_write_turn_never_freezes_the_others(
    tmp_path: Path,
) -> None:
    """Another process holds the turn's file lock and never lets go (stopped mid-transaction):
    a writer here waits for it no longer than its wait, then goes on and leaves the wait to
    SQLite; once the lock is free again the turn is taken and given back as usual."""
    turn = WriteTurn(tmp_path / "units.db", wait_seconds=0.3)
    hung = os.open(turn.lock_file, os.O_RDWR | os.O_CREAT, 0o600)  # its own open file: a rival
    fcntl.flock(hung, fcntl.LOCK_EX)
    started = time.monotonic()
    with turn():
        waited = time.monotonic() - started
    assert 0.3 <= waited < 2.0
    fcntl.flock(hung, fcntl.LOCK_UN)
    # free: taken at once, and held while the block runs
    with turn(), pytest.raises(BlockingIOError):
        fcntl.flock(hung, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(hung, fcntl.LOCK_EX | fcntl.LOCK_NB)  # given back
    os.close(hung)


def test_postgresql_connections_in_steady_use_are_not_pinged_and_idle_dead_ones_are_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection is asked `SELECT 1` only when it comes back after being idle
    (`IDLE_PING_SECONDS`): not a round trip more for each unit of work. One that the server
    closed while it was idle is replaced, and the unit of work goes on."""
    database = Database(postgres_url)
    pings: list[int] = []
    real_ping = database.engine.dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        pings.append(1)
        return real_ping(dbapi_connection)  # type: ignore[arg-type]

    monkeypatch.setattr(database.engine.dialect, "do_ping", counting)
    try:
        for _ in range(3):
            with database.transaction() as session:
                pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pings == []
        other = Database(postgres_url)
        with other.transaction() as session:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        monkeypatch.setattr(database_module, "IDLE_PING_SECONDS", 0.0)
        with database.transaction() as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert pings
    finally:
        database.dispose()
