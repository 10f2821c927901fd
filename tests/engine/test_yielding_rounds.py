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
from mailengine.engine import round_sizes
from mailengine.engine.round_sizes import RoundSizes
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
    """The engine's real loop: its rounds as `RoundSizes` sizes them."""
    settings = engine_settings(tmp_path / "var", tick_seconds=3600)
    engine = Engine(settings, sqlite_database, clock=clock, transport=MemoryTransport())
    most = settings.engine.batch_size
    waiting = [True] * 8 + [False] * 60
    limits: list[int] = []

    def process_events(now: datetime, limit: int) -> int:
        limits.append(limit)
        return limit if len(limits) < len(waiting) else 0  # a backlog, then none

    monkeypatch.setattr(engine.runner, "process_events", process_events)
    monkeypatch.setattr(engine.runner, "advance_due", lambda now, limit: 0)
    monkeypatch.setattr(sqlite_database, "writers_waiting", lambda: waiting[len(limits) - 1])
    monkeypatch.setattr(round_sizes, "BUSY_API_SECONDS", 0.0)  # the busy window: below
    asyncio.run(engine._work_until_idle())
    assert limits[0] == most
    assert min(limits) == round_sizes.YIELDING_BATCH  # halved down to it while they waited
    shrunk = limits.index(round_sizes.YIELDING_BATCH)
    assert all(a > b for a, b in itertools.pairwise(limits[: shrunk + 1]))
    assert all(a <= b for a, b in itertools.pairwise(limits[shrunk:]))
    assert limits[-1] == most  # grown back once no one waited


def test_rounds_stay_small_for_a_while_after_the_last_wait() -> None:
    """Rounds let grow back to 500 whenever no writer happened to wait as one ended held the
    lock 40-150 ms under 500 orders/s: after a wait they stay at most `BUSY_API_BATCH`."""
    now = [100.0]
    sizes = RoundSizes(500, clock=lambda: now[0])
    sizes.after_round(writers_waited=True)
    assert sizes.next == 250
    for _ in range(60):
        sizes.after_round(writers_waited=False)
        now[0] += 0.01
    assert sizes.next == round_sizes.BUSY_API_BATCH  # 0.6 s after the wait
    now[0] += round_sizes.BUSY_API_SECONDS
    for _ in range(40):
        sizes.after_round(writers_waited=False)
    assert sizes.next == 500
    sizes.after_round(writers_waited=True)  # a wait again: halved, then at most the cap
    sizes.after_round(writers_waited=False)
    assert sizes.next == round_sizes.BUSY_API_BATCH
