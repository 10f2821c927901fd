"""In `mailengine run`, commits leave SQLite's write-ahead log to the engine's checkpointer,
which copies it outside the write turn, takes the turn only to let the log start over once
it is long, and keeps it bounded under a steady stream of commits."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from mailengine.clock import FrozenClock
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store import wal_checkpoints
from mailengine.store.database import (
    BACKSTOP_CHECKPOINT_PAGES,
    INLINE_CHECKPOINT_PAGES,
    Database,
)
from mailengine.store.wal_checkpoints import WalCheckpoints
from mailengine.store.write_turn import WriteTurn
from tests.conftest import NOW
from tests.engine.running import engine_settings, eventually, serving

PAGE = 4096
WAL_HEADER, FRAME_HEADER = 32, 24


def _scratch(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    with database.transaction() as session:
        session.connection().exec_driver_sql("CREATE TABLE scratch (body BLOB)")
    return database


def _write_pages(database: Database, pages: int, per_commit: int = 50) -> None:
    """About `pages` new pages of the log, `per_commit` at a time (a row of ~3.5 KB each)."""
    for _ in range(max(1, pages // per_commit)):
        with database.transaction() as session:
            session.connection().exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                " INSERT INTO scratch SELECT randomblob(3500) FROM n",
                (per_commit,),
            )


def _log_pages(database: Database) -> int:
    """Frames the WAL file has held at most (it is reused from its start, never shrunk)."""
    assert database.sqlite_file is not None
    wal = database.sqlite_file.with_name(database.sqlite_file.name + "-wal")
    return max(0, (wal.stat().st_size - WAL_HEADER) // (PAGE + FRAME_HEADER))


def test_commits_checkpoint_at_1000_pages_unless_left_to_the_engine(tmp_path: Path) -> None:
    inline = _scratch(tmp_path / "inline")
    _write_pages(inline, 3000)
    assert _log_pages(inline) < INLINE_CHECKPOINT_PAGES + 200  # copied and started over
    left = _scratch(tmp_path / "left")
    left.leave_checkpoints_to_engine()
    _write_pages(left, 3000)
    assert 3000 <= _log_pages(left) < BACKSTOP_CHECKPOINT_PAGES
    with left.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert pages == BACKSTOP_CHECKPOINT_PAGES


def test_a_short_log_is_copied_without_the_turn_and_a_long_one_starts_over(
    tmp_path: Path,
) -> None:
    database = _scratch(tmp_path)
    checkpoints = WalCheckpoints(database, restart_pages=1000)
    database.leave_checkpoints_to_engine()
    _write_pages(database, 500)
    other = WriteTurn(database.sqlite_file or Path(), wait_seconds=30)
    with other():  # another process holds the turn: a short log is copied all the same
        short = checkpoints.once()
    assert short.pages == short.copied >= 500 and short.pages_in_turn == 0
    _write_pages(database, 1000)
    passes: list[wal_checkpoints.Checkpointed] = []
    with other():
        long = threading.Thread(target=lambda: passes.append(checkpoints.once()))
        long.start()
        long.join(0.5)
        assert not passes, "the log was started over without the write turn"
    long.join(10)
    [done] = passes
    assert done.pages >= 1000 and done.copied_in_turn == done.pages_in_turn == done.pages
    before = _log_pages(database)
    _write_pages(database, 100)  # the next writer starts the log over: the file does not grow
    assert _log_pages(database) == before


def test_the_log_stays_bounded_under_a_steady_stream_of_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint beside commits that never pause never catches up with the last one;
    without the turn the log grew for as long as writes came (800 MB in 20 s of orders)."""
    monkeypatch.setattr(wal_checkpoints, "PERIOD_SECONDS", 0.02)
    database = _scratch(tmp_path)
    checkpoints = WalCheckpoints(database, restart_pages=300)
    checkpoints.start()
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            _write_pages(database, 10, per_commit=10)
            written[0] += 10

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while written[0] < 20_000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join()
        checkpoints.stop()
    assert written[0] >= 20_000
    # Never started over, the log would hold every page written.
    assert _log_pages(database) < written[0] // 2, "the log was never started over"


def test_the_engine_checkpoints_from_its_start_to_its_stop(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    database.upgrade()
    engine = Engine(
        engine_settings(tmp_path / "var"), database, clock=FrozenClock(NOW),
        transport=MemoryTransport(),
    )  # fmt: skip

    def checkpointing() -> bool:
        return any(thread.name == "wal-checkpoints" for thread in threading.enumerate())

    async def scenario() -> None:
        async with serving(engine):
            await eventually(checkpointing, "the checkpointer")
            with database.engine.connect() as connection:
                pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
            assert pages == BACKSTOP_CHECKPOINT_PAGES
        assert not checkpointing()

    asyncio.run(scenario())
    database.dispose()
