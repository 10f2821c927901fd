"""The nightly prediction job as `mailengine run` serves it: stored with the schedules at 04:00
in the shop's zone, fired once after an engine that was down over it starts again, only by
the engine that leads. APScheduler reads the wall clock: each test travels (time-machine)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from mailengine.clock import FrozenClock
from mailengine.engine.prediction_job import PREDICTION_RUN
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.predictions import SHOP_BEST_SEND_HOUR, shop_figure
from tests.engine.harness import EngineHarness
from tests.engine.running import engine_settings, eventually, serving
from tests.engine.test_leadership import two_databases  # noqa: F401 (a fixture)

BERLIN = ZoneInfo("Europe/Berlin")
BEFORE_FOUR = datetime(2026, 11, 23, 3, 50, tzinfo=BERLIN)
HALF_PAST_FIVE = datetime(2026, 11, 23, 5, 30, tzinfo=BERLIN)


def predictions_run(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        record.name == "mailengine.engine.service"
        and record.getMessage().startswith("predicted the figures of")
        for record in caplog.records
    )


def a_shop(database: Database, now: datetime) -> None:
    """Ann orders every 10 days at 19:xx Berlin time; Ben once, long ago; Cy never."""
    shop = EngineHarness(database, FrozenClock(now))
    shop.customer("ann@example.com", "Ann", created_at=now - timedelta(days=500))
    shop.customer("ben@example.com", "Ben", created_at=now - timedelta(days=500))
    shop.customer("cy@example.com", "Cy", created_at=now - timedelta(days=500))
    last = datetime(2026, 11, 13, 19, 15, tzinfo=BERLIN)
    for number in range(5):
        shop.order("ann@example.com", f"ANN-{number}", 2500, last - timedelta(days=10 * number))
    shop.order("ben@example.com", "BEN-1", 4000, now - timedelta(days=380))


def figures(database: Database) -> dict[str, tuple[object, ...]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT email, churn_risk, predicted_next_order_at, best_send_hour, predicted_at"
                " FROM customer ORDER BY email"
            )
        )
        return {str(row[0]): tuple(row[1:]) for row in rows}


def stored_next_run(database: Database) -> float | None:
    with database.engine.connect() as connection:
        value = connection.execute(
            text("SELECT next_run_time FROM apscheduler_jobs WHERE id = 'engine:predict'")
        ).scalar_one_or_none()
    return None if value is None else float(value)


async def test_predictions_missed_at_four_run_once_when_the_engine_is_back(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine.service")
    settings = engine_settings(tmp_path)
    with time_machine.travel(BEFORE_FOUR, tick=True) as traveller:
        a_shop(database, BEFORE_FOUR)
        async with serving(Engine(settings, database, transport=MemoryTransport())) as engine:
            job = engine.schedules.scheduler.get_job("engine:predict")
            assert job is not None
            assert job.next_run_time == datetime(2026, 11, 23, 4, 0, tzinfo=BERLIN)
        assert predictions_run(caplog) == 0
        assert all(row[3] is None for row in figures(database).values())

        traveller.move_to(HALF_PAST_FIVE)  # down over 04:00
        async with serving(Engine(settings, database, transport=MemoryTransport())):
            await eventually(lambda: predictions_run(caplog) >= 1, "the missed predictions")
        assert predictions_run(caplog) == 1
        # the next fire is tomorrow at 04:00, not another run now
        tomorrow = datetime(2026, 11, 24, 4, 0, tzinfo=BERLIN).timestamp()
        assert stored_next_run(database) == tomorrow

    found = figures(database)
    ann, ben, cy = found["ann@example.com"], found["ben@example.com"], found["cy@example.com"]
    assert isinstance(ann[0], float) and ann[0] < 0.5  # orders like clockwork: still here
    assert ben[0] is not None
    assert cy[0] is None and cy[1] is None  # never ordered: nothing to predict from
    assert str(ann[1]).startswith("2026-11-22 23:00")  # the 13th + 10 days, 00:00 in Berlin
    assert ann[2] == 19 and ben[2] is None  # Ben's order is older than a year
    assert all(row[3] is not None for row in found.values())  # predicted_at for everyone
    with database.session() as session:
        assert shop_figure(session, SHOP_BEST_SEND_HOUR) == 19
        run = shop_figure(session, PREDICTION_RUN)
    assert run is not None and run["customers"] == 3 and run["scored"] == 2


@pytest.mark.postgres
async def test_only_the_leading_engine_predicts(
    two_databases: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine.service")
    first, second = two_databases
    before = datetime(2026, 11, 23, 3, 59, 0, tzinfo=BERLIN)
    with time_machine.travel(before, tick=True) as traveller:
        a_shop(first, before)
        async with (
            serving(Engine(engine_settings(tmp_path / "a"), first, transport=MemoryTransport())),
            serving(Engine(engine_settings(tmp_path / "b"), second, transport=MemoryTransport())),
        ):
            # both engines up, the job stored for 04:00: half a second to go
            traveller.move_to(datetime(2026, 11, 23, 3, 59, 59, 500000, tzinfo=BERLIN))
            await eventually(lambda: predictions_run(caplog) >= 1, "the predictions at 04:00")
            await asyncio.sleep(1.0)  # only gives a second run the time to show
    assert predictions_run(caplog) == 1
