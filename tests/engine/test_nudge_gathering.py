"""Nudges from the API's commits gather: under a stream of commits the engine claims many at
once instead of ticking (and taking the database's write lock) once per commit."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from mailengine.clock import FrozenClock
from mailengine.engine import service
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from tests.databases import held_transaction
from tests.engine.running import engine_settings, eventually, serving


async def test_a_stream_of_nudges_is_worked_in_few_rounds(
    sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = engine_settings(tmp_path / "var", tick_seconds=3600)
    engine = Engine(settings, sqlite_database, transport=MemoryTransport())
    rounds: list[int] = []
    process_events = engine.runner.process_events

    def counted(now: datetime, limit: int) -> int:
        rounds.append(1)
        return process_events(now, limit)

    monkeypatch.setattr(engine.runner, "process_events", counted)
    async with serving(engine):
        await asyncio.sleep(0.3)  # start-up's own tick is done
        rounds.clear()
        for _ in range(20):  # a commit every 10 ms for 0.2 s
            engine.nudge()
            await asyncio.sleep(0.01)
        await eventually(lambda: bool(rounds), "a nudged tick")
        await asyncio.sleep(3 * service.NUDGE_GATHER_SECONDS)
    # One round per commit before; now one per gathering time at most, and at least one.
    assert 1 <= len(rounds) <= 0.2 / service.NUDGE_GATHER_SECONDS + 2, rounds


def test_an_idle_round_waits_for_no_write_turn(
    database: Database, tmp_path: Path, clock: FrozenClock
) -> None:
    """With nothing queued or due, the engine's look after a commit is a read: it neither waits
    behind another writer (an API group, a dispatcher's outcomes) nor holds them up."""
    engine = Engine(
        engine_settings(tmp_path / "var", tick_seconds=3600),
        database,
        clock=clock,
        transport=MemoryTransport(),
    )

    def touch(session: Session) -> None:
        session.execute(text("UPDATE customer SET updated_at = updated_at"))

    with held_transaction(database, touch):
        started = time.monotonic()
        found = (
            engine.runner.process_events(clock.now(), 100),
            engine.runner.advance_due(clock.now(), 100),
        )
        waited = time.monotonic() - started
    assert found == (0, 0)
    assert waited < 1.0  # before: until the other writer's commit (10 s here)
