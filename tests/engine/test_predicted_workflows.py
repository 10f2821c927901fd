"""The shipped replenish and churn-risk win-back workflows enroll the customers whose predicted
figures say so, and mail them at their best hour, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.store.enrollments import enrollment_table
from mailengine.store.predictions import (
    SHOP_BEST_SEND_HOUR,
    CustomerPrediction,
    write_predictions,
    write_shop_figure,
)
from tests.engine.harness import EngineHarness

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday, 07:00 in Berlin
REPLENISH_FIRE = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
WIN_BACK_FIRE = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)


def _prediction(
    customer_id: int,
    churn: float = 0.2,
    next_order: datetime | None = None,
    hour: int | None = None,
) -> CustomerPrediction:
    return CustomerPrediction(customer_id, 1 - churn, churn, 1.0, next_order, 25_000, hour, NOW)


def _shop(database: Database) -> tuple[EngineHarness, dict[str, int]]:
    shop = EngineHarness(database, FrozenClock(NOW), Settings())
    orders = {"rita": 2, "rolf": 2, "ronja": 2, "rudi": 2, "carl": 2, "cora": 1, "cleo": 3,
              "chris": 3}  # fmt: skip
    ids = {}
    for name, count in orders.items():
        address = f"{name}@example.com"
        ids[name] = shop.customer(address, name.capitalize())
        for n in range(count):
            shop.order(address, f"{name}-{n}", 4990, NOW - timedelta(days=30 + 20 * n))
    day = timedelta(days=1)
    with database.transaction() as session:
        write_predictions(
            session,
            [
                _prediction(ids["rita"], next_order=NOW + 2 * day, hour=18),  # due soon
                _prediction(ids["rolf"], next_order=NOW + 5 * day),  # not yet
                _prediction(ids["ronja"], next_order=NOW - day),  # overdue: the moment passed
                # rudi: not predicted yet
                _prediction(ids["carl"], churn=0.7),  # slipping away, a repeat customer
                _prediction(ids["cora"], churn=0.7),  # one order: no rhythm to judge
                _prediction(ids["cleo"], churn=0.5),  # below the line
                # chris: not predicted yet
            ],
        )
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, 11, NOW)  # for carl, who has none
    return shop, ids


def _enrolled(database: Database, workflow: str) -> set[int]:
    e = enrollment_table.c
    with database.session() as session:
        rows = session.execute(select(e.customer_id).where(e.workflow == workflow))
        return {row[0] for row in rows}


def _messages(shop: EngineHarness, to: str) -> list[EmailMessage]:
    return [
        email.message_from_bytes(envelope.data, policy=default_policy)
        for envelope in shop.transport.outbox
        if envelope.rcpt_to == to
    ]


async def test_the_predicted_workflows_enroll_whom_the_figures_name(database: Database) -> None:
    shop, ids = _shop(database)
    shop.clock.set(REPLENISH_FIRE.astimezone(UTC))
    assert shop.runner.fire_schedule("replenish", REPLENISH_FIRE, shop.clock.now()) == 1
    shop.clock.set(WIN_BACK_FIRE.astimezone(UTC))
    assert shop.runner.fire_schedule("churn-risk-win-back", WIN_BACK_FIRE, shop.clock.now()) == 1
    assert _enrolled(database, "replenish") == {ids["rita"]}
    assert _enrolled(database, "churn-risk-win-back") == {ids["carl"]}

    await shop.tick()
    assert shop.received == []  # both wait for their best hour
    await shop.run_for(timedelta(hours=10))
    sent = [(mail.to, mail.at.astimezone(BERLIN).hour, mail.subject) for mail in shop.received]
    assert sent == [
        ("carl@example.com", 11, "Carl, we miss you"),  # the shop's best hour
        ("rita@example.com", 18, "Rita, time to restock your favourites?"),  # her own
    ]
    (reminder,) = _messages(shop, "rita@example.com")
    text = reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "your next one would be around 25 November 2026" in " ".join(text.split())
    assert "rita-0" in text  # her last order, to order again

    # The next day's fire enrolls nobody again: rita entered within 30 days, carl is still in.
    next_day = REPLENISH_FIRE + timedelta(days=1)
    shop.clock.set(next_day.astimezone(UTC))
    assert shop.runner.fire_schedule("replenish", next_day, shop.clock.now()) == 0
    later = WIN_BACK_FIRE + timedelta(days=1)
    assert shop.runner.fire_schedule("churn-risk-win-back", later, later) == 0


async def test_an_order_ends_the_churn_risk_win_back_before_its_coupon(
    database: Database,
) -> None:
    shop, _ = _shop(database)
    shop.clock.set(WIN_BACK_FIRE.astimezone(UTC))
    shop.runner.fire_schedule("churn-risk-win-back", WIN_BACK_FIRE, shop.clock.now())
    await shop.run_for(timedelta(days=3))
    assert shop.subjects("carl@example.com") == ["Carl, we miss you"]
    shop.buy("carl@example.com", "carl-back")
    await shop.run_for(timedelta(days=7))
    assert shop.subjects("carl@example.com") == [
        "Carl, we miss you",
        "Thank you for your order, Carl",  # the order's confirmation; no coupon after it
    ]
