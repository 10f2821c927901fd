"""The prediction job on its own: every customer written however many transactions it takes,
forgotten customers left alone, zones that do not exist read as the shop's, and hours stored
when the models cannot be fitted yet."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from mailengine.clock import FrozenClock
from mailengine.engine import prediction_job
from mailengine.engine.prediction_job import run_predictions
from mailengine.store.database import Database
from mailengine.store.predictions import SHOP_BEST_SEND_HOUR, shop_figure
from mailengine.store.privacy import forget_customer
from tests.conftest import NOW
from tests.engine.harness import EngineHarness

BERLIN = ZoneInfo("Europe/Berlin")


def stored(database: Database) -> dict[str, tuple[object, ...]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT email, p_active, best_send_hour, predicted_at FROM customer")
        )
        return {str(row[0]): tuple(row[1:]) for row in rows}


def test_every_customer_over_several_transactions_and_none_forgotten(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prediction_job, "TRANSACTION_ROWS", 2)
    shop = EngineHarness(database, FrozenClock(NOW))
    for number in range(7):
        email = f"c{number}@example.com"
        zone = "Mars/Olympus_Mons" if number == 3 else "Europe/Berlin"
        shop.customer(email, f"C{number}", created_at=NOW - timedelta(days=400), timezone=zone)
        for order in range(number % 3 + 1):
            at = datetime(2026, 6, 1, 20, 30, tzinfo=BERLIN) + timedelta(days=30 * order)
            shop.order(email, f"O-{number}-{order}", 1000 + number, at)
    with database.transaction() as session:
        forget_customer(session, "c6@example.com", NOW)

    run = run_predictions(database, BERLIN, NOW)
    assert run.customers == 6 and run.scored == 6 and run.not_fitted is None
    found = {email: row for email, row in stored(database).items() if "@example.com" in email}
    assert len(found) == 6
    assert all(row[0] is not None and row[1] == 20 and row[2] is not None for row in found.values())
    assert [row for email, row in stored(database).items() if email not in found] == [
        (None, None, None)
    ]


def test_without_a_repeat_order_the_hours_are_still_stored(database: Database) -> None:
    shop = EngineHarness(database, FrozenClock(NOW))
    shop.customer("ann@example.com", "Ann", timezone="America/New_York")
    shop.order("ann@example.com", "A-1", 2000, datetime(2026, 11, 1, 12, 0, tzinfo=BERLIN))
    run = run_predictions(database, BERLIN, NOW)
    assert run.not_fitted is not None and "repeat order" in run.not_fitted
    assert run.models is None and run.scored == 0
    assert stored(database)["ann@example.com"][:2] == (None, 6)  # 12:00 Berlin, 06:00 New York
    with database.session() as session:
        assert shop_figure(session, SHOP_BEST_SEND_HOUR) == 6
