"""Orders and the per-customer figures they keep up to date, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from mailengine.store.customers import get_customer, upsert_customers
from mailengine.store.database import Database
from mailengine.store.models import Customer
from mailengine.store.orders import orders_of, refresh_all_figures, upsert_orders
from mailengine.store.records import CustomerUpsert, OrderUpsert
from tests.conftest import NOW


def _order(
    external_id: str, email: str, amount: int, days_ago: float, **extra: object
) -> OrderUpsert:
    values: dict[str, object] = {
        "external_id": external_id,
        "email": email,
        "channel": "online",
        "amount_minor": amount,
        "currency": "EUR",
        "base_amount_minor": amount,
        "placed_at": NOW - timedelta(days=days_ago),
        "items": [{"sku": "TS-100", "name": "T-shirt", "quantity": 1, "unit_price": "24.90"}],
    }
    values.update(extra)
    return OrderUpsert(**values)  # type: ignore[arg-type]


def _customer(database: Database, email: str) -> Customer:
    with database.session() as session:
        customer = get_customer(session, email)
    assert customer is not None
    return customer


def test_figures_follow_new_orders(database: Database) -> None:
    with database.transaction() as session:
        upsert_customers(session, [CustomerUpsert(email="ann@example.com")], NOW)
        outcome = upsert_orders(
            session,
            [
                _order("W1", "ann@example.com", 2490, days_ago=400),
                _order("W2", "ann@example.com", 5990, days_ago=30),
                _order("S3", "ann@example.com", 1000, days_ago=2, channel="store"),
            ],
            NOW,
        )
    assert (outcome.inserted, outcome.updated) == (3, 0)
    ann = _customer(database, "ann@example.com")
    assert ann.orders_count == 3
    assert ann.total_spent_minor == 2490 + 5990 + 1000
    assert ann.spent_365d_minor == 5990 + 1000
    assert ann.first_order_at == NOW - timedelta(days=400)
    assert ann.last_order_at == NOW - timedelta(days=2)
    assert ann.figures_as_of == NOW


def test_cancelling_an_order_takes_it_out_of_the_figures(database: Database) -> None:
    with database.transaction() as session:
        upsert_orders(
            session,
            [
                _order("W1", "bo@example.com", 1000, days_ago=10),
                _order("W2", "bo@example.com", 3000, days_ago=1),
            ],
            NOW,
        )
    with database.transaction() as session:
        outcome = upsert_orders(
            session, [_order("W2", "bo@example.com", 3000, days_ago=1, status="cancelled")], NOW
        )
    assert (outcome.inserted, outcome.updated) == (0, 1)
    bo = _customer(database, "bo@example.com")
    assert (bo.orders_count, bo.total_spent_minor) == (1, 1000)
    assert bo.last_order_at == NOW - timedelta(days=10)


def test_an_order_moved_to_another_customer_updates_both(database: Database) -> None:
    with database.transaction() as session:
        upsert_orders(session, [_order("W9", "cy@example.com", 4200, days_ago=5)], NOW)
    with database.transaction() as session:
        upsert_orders(session, [_order("W9", "di@example.com", 4200, days_ago=5)], NOW)
    cy, di = _customer(database, "cy@example.com"), _customer(database, "di@example.com")
    assert (cy.orders_count, cy.total_spent_minor, cy.last_order_at) == (0, 0, None)
    assert (di.orders_count, di.total_spent_minor) == (1, 4200)


def test_an_order_from_an_unknown_address_creates_a_customer_without_consent(
    database: Database,
) -> None:
    with database.transaction() as session:
        upsert_orders(session, [_order("S1", "walkin@example.com", 1990, days_ago=1)], NOW)
    walk_in = _customer(database, "walkin@example.com")
    assert walk_in.consent_status == "unknown"
    assert walk_in.orders_count == 1


def test_orders_keep_their_details_newest_first(database: Database) -> None:
    with database.transaction() as session:
        upsert_orders(
            session,
            [
                _order("W1", "ed@example.com", 1000, days_ago=20),
                _order(
                    "W2",
                    "ed@example.com",
                    2000,
                    days_ago=1,
                    expected_ship_date=date(2026, 11, 25),
                    status="paid",
                ),
            ],
            NOW,
        )
    ed = _customer(database, "ed@example.com")
    assert ed.id is not None
    with database.session() as session:
        orders = orders_of(session, ed.id)
    assert [order.external_id for order in orders] == ["W2", "W1"]
    assert orders[0].expected_ship_date == date(2026, 11, 25)
    assert orders[0].status == "paid"
    assert orders[0].items[0]["name"] == "T-shirt"
    assert orders[0].placed_at == NOW - timedelta(days=1)


def test_daily_refresh_ages_the_365_day_spend(database: Database) -> None:
    with database.transaction() as session:
        upsert_orders(session, [_order("W1", "flo@example.com", 5000, days_ago=360)], NOW)
    assert _customer(database, "flo@example.com").spent_365d_minor == 5000
    with database.transaction() as session:
        refreshed = refresh_all_figures(session, NOW + timedelta(days=10))
    assert refreshed == 1
    flo = _customer(database, "flo@example.com")
    assert flo.spent_365d_minor == 0
    assert flo.total_spent_minor == 5000
