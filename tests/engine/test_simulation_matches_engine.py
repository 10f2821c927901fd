"""What `simulate` predicts is what the engine then does: the same mails at the same times.

The simulation runs first on the stored data; then the engine runs over the same weeks on a
frozen clock, its schedules firing when they are due in Berlin and its yearly run every hour,
and sends through a memory transport. A schedule, a birthday and the frequency cap meet
here; and the workflows on predicted figures, waiting for the customer's best hour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mailengine.clock import FrozenClock
from mailengine.config import ContactPressureSettings, Settings
from mailengine.cron.trigger import crontab_trigger
from mailengine.engine.simulation import simulate
from mailengine.store.database import Database
from mailengine.store.predictions import CustomerPrediction, write_predictions
from mailengine.workflows.model import ScheduleTrigger
from tests.engine.harness import EngineHarness

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DAYS = 16


async def run_engine(shop: EngineHarness, settings: Settings) -> list[tuple[datetime, str]]:
    """Hour by hour from START for DAYS days: schedules, the yearly run, due steps, sending;
    each mail sent, with when."""
    schedules = {
        name: crontab_trigger(workflow.trigger.cron, settings.zone)
        for name, workflow in shop.registry.current().items()
        if isinstance(workflow.trigger, ScheduleTrigger)
    }
    sent = []
    while shop.clock.now() <= START + timedelta(days=DAYS):
        now = shop.clock.now()
        for name, trigger in schedules.items():
            if trigger.get_next_fire_time(None, now) == now:
                shop.runner.fire_schedule(name, now, now)
        shop.runner.fire_yearly(now)
        before = len(shop.received)
        await shop.tick()
        sent += [(mail.at, mail.subject) for mail in shop.received[before:]]
        shop.clock.advance(timedelta(hours=1))
    return sent


@pytest.mark.slow
async def test_simulated_mails_are_the_engines_mails(sqlite_database: Database) -> None:
    """On SQLite only: 385 engine ticks take a while; the queries simulate uses are checked
    on both databases in tests/store/test_simulation_queries.py."""
    database = sqlite_database
    settings = Settings(contact_pressure=ContactPressureSettings(max_marketing_emails=1))
    shop = EngineHarness(database, FrozenClock(START), settings)
    # The only buyer, so a VIP now; her last order turns 90 days old in five days and her
    # birthday is in a week: three marketing workflows want her, one mail a week goes.
    kim = shop.customer("kim@example.com", "Kim", birthday=date(1991, 11, 30))
    shop.order("kim@example.com", "K-1", 4990, START - timedelta(days=85))
    workflows = shop.registry.current()
    predicted = []
    for name in ("vip", "win-back", "birthday"):
        result = simulate(
            database, shop.runner, workflows[name], kim, START, DAYS, others=workflows.values()
        )
        predicted += [(mail.at, f"{name} send {mail.number}") for mail in result.mails]

    sent = await run_engine(shop, settings)
    assert sorted(predicted) == [
        (START, "vip send 1"),
        # win-back's enrollment is older than the birthday's: its mail goes first
        (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "win-back send 1"),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "win-back send 2"),
    ]  # and the birthday mail waits for a free place until 14 December
    assert [at for at, _ in sent] == [at for at, _ in sorted(predicted)]
    assert [subject for _, subject in sent] == [
        "Kim, welcome to the VIP circle",
        "Kim, we miss you",
        "Half price on your favourites, Kim",
    ]


@pytest.mark.slow
async def test_simulated_best_hours_are_the_engines(sqlite_database: Database) -> None:
    """A repeat customer slipping away whose next order is due: replenish and the churn-risk
    win-back both take her, at her best hour (19:00 in Berlin), beside the VIP mail, under a
    cap of 3 mails a week."""
    database = sqlite_database
    settings = Settings()
    shop = EngineHarness(database, FrozenClock(START), settings)
    pia = shop.customer("pia@example.com", "Pia")
    for n in range(3):
        shop.order("pia@example.com", f"P-{n}", 4990, START - timedelta(days=40 + 30 * n))
    with database.transaction() as session:
        figures = CustomerPrediction(pia, 0.3, 0.7, 0.8, START + timedelta(days=2), 9000, 19, START)
        write_predictions(session, [figures])
    workflows = shop.registry.current()
    predicted = []
    for name in ("vip", "win-back", "replenish", "churn-risk-win-back"):
        result = simulate(
            database, shop.runner, workflows[name], pia, START, DAYS, others=workflows.values()
        )
        predicted += [(mail.at, f"{name} send {mail.number}") for mail in result.mails]

    sent = await run_engine(shop, settings)
    assert [at for at, _ in sent] == [at for at, _ in sorted(predicted)]
    assert sorted(predicted) == [
        (START, "vip send 1"),
        (datetime(2026, 11, 24, 18, 0, tzinfo=UTC), "churn-risk-win-back send 1"),
        (datetime(2026, 11, 24, 18, 0, tzinfo=UTC), "replenish send 1"),
        (datetime(2026, 12, 1, 18, 0, tzinfo=UTC), "churn-risk-win-back send 2"),
    ]
    assert [subject for _, subject in sent] == [
        "Pia, welcome to the VIP circle",
        "Pia, time to restock your favourites?",
        "Pia, we miss you",
        "20 % off your favourites, Pia",
    ]
