"""`Engine.run_once` and `Engine.run`, end to end over the in-memory transport."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import time_machine

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from tests.engine.harness import REPO, EngineHarness
from tests.engine.running import eventually, serving

NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def _settings(tmp_path: Path, **engine: object) -> Settings:
    return Settings.model_validate(
        {
            "paths": {
                "workflows": str(REPO / "workflows"),
                "templates": str(REPO / "templates"),
                "var": str(tmp_path),
            },
            "engine": {"tick_seconds": 0.05, **engine},
        }
    )


async def test_run_once_enrolls_on_events_and_drains(database: Database, tmp_path: Path) -> None:
    shop = EngineHarness(database, FrozenClock(NOON))
    shop.customer("ann@example.com", "Ann")
    shop.event("ann@example.com", "customer.created")
    shop.buy("ann@example.com", "W1")
    transport = MemoryTransport()
    engine = Engine(_settings(tmp_path), database, clock=shop.clock, transport=transport)
    report = await engine.run_once()
    assert (report.events, report.dispatched.sent) == (2, 2)
    assert sorted(e.rcpt_to for e in transport.outbox) == ["ann@example.com"] * 2
    again = await Engine(
        _settings(tmp_path), database, clock=shop.clock, transport=MemoryTransport()
    ).run_once()
    assert (again.events, again.dispatched.sent) == (0, 0)


async def test_the_running_engine_reacts_within_ticks_and_stops_cleanly(
    database: Database, tmp_path: Path
) -> None:
    shop = EngineHarness(database, FrozenClock(NOON))
    shop.customer("bo@example.com", "Bo")
    transport = MemoryTransport()
    engine = Engine(_settings(tmp_path), database, clock=shop.clock, transport=transport)
    with time_machine.travel(NOON, tick=True):  # APScheduler's wall clock: no fire due now
        async with serving(engine):
            shop.event("bo@example.com", "customer.created")
            await eventually(lambda: bool(transport.outbox), "the welcome mail")
    assert [e.rcpt_to for e in transport.outbox] == ["bo@example.com"]
    assert not engine.scheduler_running
