"""Schedules across engine restarts, served as `mailengine run` serves them: a fire missed
while the engine was down runs exactly once when it is back. APScheduler reads the wall
clock, so each test travels to the instants it needs (time-machine, ticking on)."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from mailengine.clock import FrozenClock
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.enrollments import enrollment_counts
from tests.engine.harness import REPO, EngineHarness
from tests.engine.running import engine_settings, eventually, serving

BERLIN = ZoneInfo("Europe/Berlin")
# Monday: win-back fires at 09:00 every day, VIP at 10:00 on Mondays.
MONDAY_MORNING = datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN)
MONDAY_NOON = datetime(2026, 11, 23, 12, 30, tzinfo=BERLIN)


def schedule_fires(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each schedule fire the runner carried out, as 'workflow: schedule:<occurrence>'."""
    return sorted(
        record.getMessage().partition(" enrolled")[0]
        for record in caplog.records
        if record.name == "mailengine.engine.runner"
        and ": schedule schedule:" in record.getMessage()
    )


def stored_jobs(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return {str(row[0]) for row in connection.execute(text("SELECT id FROM apscheduler_jobs"))}


def a_lapsed_customer(database: Database, now: datetime) -> None:
    """Eve last ordered 120 days ago: win-back (and, as the only buyer, VIP) selects her."""
    shop = EngineHarness(database, FrozenClock(now))
    shop.customer("eve@example.com", "Eve", created_at=now - timedelta(days=400))
    shop.order("eve@example.com", "OLD-1", 3000, now - timedelta(days=120))


async def test_a_fire_missed_while_the_engine_was_down_runs_once_when_it_is_back(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine.runner")
    settings = engine_settings(tmp_path)
    with time_machine.travel(MONDAY_MORNING, tick=True) as traveller:
        a_lapsed_customer(database, MONDAY_MORNING)
        async with serving(Engine(settings, database, transport=MemoryTransport())) as engine:
            job = engine.schedules.scheduler.get_job("workflow:win-back")
            assert job is not None
            assert job.next_run_time == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
        assert schedule_fires(caplog) == []

        traveller.move_to(MONDAY_NOON)  # down over 09:00 and 10:00, up again at 12:30
        transport = MemoryTransport()
        async with serving(Engine(settings, database, transport=transport)):
            await eventually(
                lambda: (
                    len(schedule_fires(caplog)) >= 3
                    and any(e.rcpt_to == "eve@example.com" for e in transport.outbox)
                ),
                "the missed fires and their mail",
            )
    assert schedule_fires(caplog) == [
        "churn-risk-win-back: schedule schedule:2026-11-23T09:00+01:00",
        "vip: schedule schedule:2026-11-23T10:00+01:00",
        "win-back: schedule schedule:2026-11-23T09:00+01:00",
    ]
    with database.session() as session:
        assert sum(enrollment_counts(session, "win-back").values()) == 1


async def test_the_schedules_of_deleted_workflows_are_dropped_at_start_up(
    database: Database, tmp_path: Path
) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", workflows)
    settings = engine_settings(tmp_path, workflows)
    with time_machine.travel(MONDAY_NOON, tick=True):
        async with serving(Engine(settings, database, transport=MemoryTransport())):
            pass
        predicted = {"workflow:churn-risk-win-back", "workflow:replenish"}
        assert stored_jobs(database) == {
            "engine:refresh-figures",
            "engine:predict",
            "workflow:vip",
            "workflow:win-back",
            *predicted,
        }
        (workflows / "vip.yaml").unlink()
        async with serving(Engine(settings, database, transport=MemoryTransport())):
            pass
        assert stored_jobs(database) == {
            "engine:refresh-figures",
            "engine:predict",
            "workflow:win-back",
            *predicted,
        }
