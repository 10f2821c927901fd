"""While the API's writers wait for SQLite's write turn, the engine's rounds shrink (so its
units of work hold the lock briefly) and grow back once no one waits; a writer is seen
waiting only in a process that announces its waits (the HTTP workers), never a dispatcher."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime
from pathlib import Path

import pytest

from mailengine.clock import FrozenClock
from mailengine.engine import service
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.write_turn import WriteTurn
from tests.engine.running import engine_settings
from tests.turn_waiters import waiter


def _seen_waiting(turn: WriteTurn, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if turn.others_waiting():
            return True
        time.sleep(0.01)
    return False


def test_only_an_announced_wait_is_seen(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    turn = WriteTurn(database, 10.0)
    assert not turn.others_waiting()
    for announce in (True, False):
        with turn():
            other = waiter(database, announce)
            assert _seen_waiting(turn, 0.5 if not announce else 5.0) is announce
        assert other.wait(10) == 0  # it had the turn once this one let go
        assert other.stdout is not None
        other.stdout.close()
        assert not turn.others_waiting()


def test_rounds_shrink_while_writers_wait_and_grow_back(
    sqlite_database: Database, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = engine_settings(tmp_path / "var", tick_seconds=3600)
    engine = Engine(settings, sqlite_database, clock=clock, transport=MemoryTransport())
    most = settings.engine.batch_size
    waiting = [True] * 8 + [False] * 40
    limits: list[int] = []

    def process_events(now: datetime, limit: int) -> int:
        limits.append(limit)
        return limit if len(limits) < len(waiting) else 0  # a backlog, then none

    monkeypatch.setattr(engine.runner, "process_events", process_events)
    monkeypatch.setattr(engine.runner, "advance_due", lambda now, limit: 0)
    monkeypatch.setattr(sqlite_database, "writers_waiting", lambda: waiting[len(limits) - 1])
    asyncio.run(engine._work_until_idle())
    assert limits[0] == most
    assert min(limits) == service.YIELDING_BATCH  # halved down to it while they waited
    shrunk = limits.index(service.YIELDING_BATCH)
    assert all(a > b for a, b in itertools.pairwise(limits[: shrunk + 1]))
    assert limits[-1] == most  # grown back once no one waited
