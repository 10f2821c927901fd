"""Frequency cap and quiet hours defer marketing steps (never drop them); order mail is exempt."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.planner import ContactPressure
from mailengine.store.database import Database
from tests.engine.harness import EngineHarness

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def test_the_cap_frees_a_place_when_the_oldest_mail_ages_out() -> None:
    pressure = ContactPressure(max_per_period=2, period=timedelta(days=7))
    now = MONDAY_NOON
    recent = [now - timedelta(days=6), now - timedelta(days=2)]
    assert pressure.allowed_at(now, recent, 0, BERLIN) == (
        now + timedelta(days=1),
        "frequency cap of 2 per 7 days",
    )
    assert pressure.allowed_at(now, recent[1:], 0, BERLIN) == (now, "")
    assert pressure.allowed_at(now, recent[1:], 1, BERLIN)[0] == now + timedelta(days=5)


def test_quiet_hours_across_midnight_in_the_customers_zone() -> None:
    pressure = ContactPressure(3, timedelta(days=7), time(21, 0), time(8, 0))
    late = datetime(2026, 11, 23, 21, 30, tzinfo=BERLIN)
    assert pressure.allowed_at(late, [], 0, BERLIN) == (
        datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN),
        "quiet hours",
    )
    early = datetime(2026, 11, 24, 7, 59, tzinfo=BERLIN)
    assert pressure.quiet_until(early, BERLIN) == datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN)
    assert pressure.quiet_until(datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN), BERLIN) is None
    new_york = ZoneInfo("America/New_York")
    assert pressure.quiet_until(late, new_york) is None  # 15:30 in New York


async def test_capped_steps_wait_for_a_free_place_and_order_mail_does_not(
    database: Database,
) -> None:
    settings = Settings.model_validate(
        {"contact_pressure": {"max_marketing_emails": 1, "per_days": 7, "quiet_hours": None}}
    )
    shop = EngineHarness(database, FrozenClock(MONDAY_NOON), settings=settings)
    shop.customer("ann@example.com", "Ann")
    shop.event("ann@example.com", "customer.created")
    await shop.tick()
    await shop.run_for(timedelta(days=3, hours=1))
    shop.buy("ann@example.com", "W9")  # transactional: not held back by the cap
    await shop.tick()
    assert shop.subjects("ann@example.com") == [
        "Welcome to Example Shop, Ann",
        "Thank you for your order, Ann",
    ]
    await shop.run_for(timedelta(days=4), step=timedelta(hours=2))
    favourites = [m for m in shop.received if m.subject == "Our favourites, picked for you"]
    assert len(favourites) == 1
    assert favourites[0].at >= MONDAY_NOON + timedelta(days=7)  # deferred, not dropped


async def test_quiet_hours_hold_marketing_until_morning(database: Database) -> None:
    settings = Settings.model_validate({"contact_pressure": {"quiet_hours": "21:00-08:00"}})
    evening = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    shop = EngineHarness(database, FrozenClock(evening), settings=settings)
    shop.customer("bo@example.com", "Bo")
    shop.event("bo@example.com", "customer.created")
    await shop.tick()
    assert shop.received == []
    await shop.run_for(timedelta(hours=12), step=timedelta(minutes=30))
    assert shop.subjects("bo@example.com") == ["Welcome to Example Shop, Bo"]
    assert shop.received[0].at.astimezone(BERLIN).hour == 8
