"""The shipped workflows over weeks of frozen time: exactly which mails each customer gets."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta
from email.policy import default as default_policy

from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from mailengine.store.enrollments import enrollment_counts
from tests.engine.harness import EngineHarness

# Monday 23 November 2026, 10:00 in Berlin: outside quiet hours.
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def harness(database: Database) -> EngineHarness:
    return EngineHarness(database, FrozenClock(START))


async def test_welcome_series_with_and_without_a_first_order(database: Database) -> None:
    shop = harness(database)
    shop.customer("ann@example.com", "Ann")
    shop.customer("bob@example.com", "Bob")
    shop.customer("cat@example.com", "Cat", consent="withdrawn")
    for address in ("ann@example.com", "bob@example.com", "cat@example.com"):
        shop.event(address, "customer.created")
    await shop.tick()
    assert shop.subjects("ann@example.com") == ["Welcome to Example Shop, Ann"]
    assert shop.subjects("cat@example.com") == []  # no consent, no marketing
    await shop.run_for(timedelta(days=4))
    shop.buy("bob@example.com", "W1")
    await shop.run_for(timedelta(days=6))
    assert shop.subjects("ann@example.com") == [
        "Welcome to Example Shop, Ann",
        "Our favourites, picked for you",
        "10 % off your first order",
    ]
    assert shop.subjects("bob@example.com") == [
        "Welcome to Example Shop, Bob",
        "Our favourites, picked for you",
        "Thank you for your order, Bob",  # thank-you, not the first-order coupon
    ]
    coupon_mail = next(m for m in shop.received if m.subject == "10 % off your first order")
    # The coupon step waits until 10:00 in the customer's zone on day 7.
    assert coupon_mail.at.astimezone(shop.settings.zone).hour == 10


async def test_thank_you_is_transactional_and_follows_up(database: Database) -> None:
    shop = harness(database)
    shop.customer("dan@example.com", "Dan", consent="unknown")
    shop.buy("dan@example.com", "W7")
    await shop.tick()
    assert shop.subjects("dan@example.com") == ["Thank you for your order, Dan"]
    message = email.message_from_bytes(shop.transport.outbox[-1].data, policy=default_policy)
    text = message.get_body(("plain",))
    assert text is not None
    assert "W7" in text.get_content()
    await shop.run_for(timedelta(days=15), step=timedelta(hours=6))
    assert shop.subjects("dan@example.com") == [
        "Thank you for your order, Dan",
        "How is your order, Dan?",
    ]


async def test_win_back_nudges_lapsed_customers_and_stops_when_they_buy(
    database: Database,
) -> None:
    shop = harness(database)
    long_ago = START - timedelta(days=120)
    for address, name in (("eve@example.com", "Eve"), ("fay@example.com", "Fay")):
        shop.customer(address, name, created_at=START - timedelta(days=400))
        shop.order(address, f"OLD-{name}", 3000, long_ago)
    shop.customer("gus@example.com", "Gus")
    shop.order("gus@example.com", "RECENT", 3000, START - timedelta(days=5))
    assert shop.runner.fire_schedule("win-back", START, START) == 2
    assert shop.runner.fire_schedule("win-back", START, START) == 0  # once per fire time
    await shop.tick()
    assert shop.subjects("eve@example.com") == ["Eve, we miss you"]
    assert shop.subjects("gus@example.com") == []
    await shop.run_for(timedelta(days=2))
    shop.buy("fay@example.com", "BACK")  # the exit goal
    await shop.run_for(timedelta(days=6))
    assert shop.subjects("eve@example.com") == [
        "Eve, we miss you",
        "Half price on your favourites, Eve",
    ]
    assert shop.subjects("fay@example.com") == [
        "Fay, we miss you",
        "Thank you for your order, Fay",
    ]
    with database.session() as session:
        assert enrollment_counts(session, "win-back") == {"completed": 1, "exited": 1}
    # Re-entry after 180 days: the next day's fire does not enroll Eve again.
    assert shop.runner.fire_schedule("win-back", START + timedelta(days=9), shop.clock.now()) == 0


async def test_vip_selects_the_top_fifth_by_recent_spend(database: Database) -> None:
    shop = harness(database)
    for number in range(10):
        address = f"c{number}@example.com"
        shop.customer(address, f"C{number}")
        shop.order(address, f"O{number}", 1000 * (number + 1), START - timedelta(days=30))
    assert shop.runner.fire_schedule("vip", START, START) == 2
    await shop.tick()
    assert sorted(mail.to for mail in shop.received) == ["c8@example.com", "c9@example.com"]


async def test_birthday_mail_arrives_at_nine_in_the_morning(database: Database) -> None:
    shop = harness(database)
    today = START.astimezone(shop.settings.zone).date()
    shop.customer("hal@example.com", "Hal", birthday=date(1990, today.month, today.day))
    shop.customer("ida@example.com", "Ida", birthday=date(1990, 1, 1))
    shop.clock.set(datetime(2026, 11, 23, 5, 0, tzinfo=UTC))  # 06:00 in Berlin
    assert shop.runner.fire_yearly(shop.clock.now()) == 1
    assert shop.runner.fire_yearly(shop.clock.now()) == 0
    await shop.tick()
    assert shop.received == []
    await shop.run_for(timedelta(hours=4))
    assert shop.subjects("hal@example.com") == ["Happy birthday, Hal!"]
    assert shop.received[0].at.astimezone(shop.settings.zone).hour == 9
    assert shop.subjects("ida@example.com") == []


async def test_a_restart_in_the_middle_of_a_wait_loses_and_duplicates_nothing(
    database: Database,
) -> None:
    shop = harness(database)
    shop.customer("jo@example.com", "Jo")
    shop.event("jo@example.com", "customer.created")
    await shop.tick()
    await shop.run_for(timedelta(days=1))
    shop.start()  # a new process: registry, runner and dispatcher rebuilt from the store
    await shop.tick()
    await shop.run_for(timedelta(days=8))
    assert shop.subjects("jo@example.com") == [
        "Welcome to Example Shop, Jo",
        "Our favourites, picked for you",
        "10 % off your first order",
    ]
