"""New orders and order figures in the driver's own SQL, on SQLite and PostgreSQL: what is
inserted reads back through the ORM as written, and the figures the database computes are
those of the customer's counted orders."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mailengine.store.customers import ensure_customers, get_customer
from mailengine.store.database import Database
from mailengine.store.models import Order
from mailengine.store.order_writes import insert_orders, write_figures
from tests.conftest import NOW

BERLIN = ZoneInfo("Europe/Berlin")


def _row(external_id: str, customer_id: int, amount: int, placed_at: datetime,
         **changes: object) -> dict[str, object]:  # fmt: skip
    return {
        "external_id": external_id, "customer_id": customer_id, "channel": "online",
        "store_location": None, "amount_minor": amount, "currency": "EUR",
        "base_amount_minor": amount, "status": "placed",
        "items": [{"sku": "S-1", "name": "Schal „Grün“", "quantity": 2, "unit_price": "9.95"}],
        "placed_at": placed_at, "shipped_at": None, "expected_ship_date": None, **changes,
    }  # fmt: skip


def test_inserted_orders_read_back_as_written(database: Database) -> None:
    placed = datetime(2026, 11, 20, 10, 0, tzinfo=BERLIN)
    with database.transaction() as session:
        ids = ensure_customers(session, ["ann@example.com"], NOW)
        ann = ids["ann@example.com"]
        insert_orders(session, [
            _row("A-1", ann, 1990, placed),
            _row("A-2", ann, 4990, placed + timedelta(hours=1), store_location="Köln",
                 shipped_at=placed + timedelta(days=1), expected_ship_date=date(2026, 11, 25),
                 status="shipped"),
        ], NOW)  # fmt: skip
    with database.session() as session:
        orders = {o.external_id: o for o in session.exec(select(Order)).scalars()}  # type: ignore[call-overload]
    first, second = orders["A-1"], orders["A-2"]
    assert first.placed_at == placed and first.placed_at.tzinfo is not None
    assert (first.shipped_at, first.expected_ship_date, first.store_location) == (None, None, None)
    assert first.items == _row("", 0, 0, placed)["items"]
    assert (first.created_at, first.updated_at) == (NOW, NOW)
    assert second.shipped_at == placed + timedelta(days=1)
    assert second.expected_ship_date == date(2026, 11, 25)
    assert (second.store_location, second.status, second.amount_minor) == ("Köln", "shipped", 4990)


def test_figures_are_those_of_the_counted_orders(database: Database) -> None:
    with database.transaction() as session:
        ids = ensure_customers(
            session, ["ann@example.com", "ben@example.com", "cy@example.com"], NOW
        )
        ann, ben, cy = ids["ann@example.com"], ids["ben@example.com"], ids["cy@example.com"]
        insert_orders(session, [
            _row("A-1", ann, 1000, NOW - timedelta(days=400)),
            _row("A-2", ann, 2000, NOW - timedelta(days=10)),
            _row("A-3", ann, 9999, NOW - timedelta(days=5), status="cancelled"),
            _row("B-1", ben, 500, NOW - timedelta(days=1), status="returned"),
        ], NOW)  # fmt: skip
        write_figures(session, [ann, ben, cy], NOW)
    with database.session() as session:
        figures = {
            email: get_customer(session, email)
            for email in ("ann@example.com", "ben@example.com", "cy@example.com")
        }
    ann_row, ben_row, cy_row = figures.values()
    assert ann_row is not None and ben_row is not None and cy_row is not None
    assert (ann_row.orders_count, ann_row.total_spent_minor, ann_row.spent_365d_minor) == (
        2, 3000, 2000,
    )  # fmt: skip
    assert ann_row.first_order_at == NOW - timedelta(days=400)
    assert ann_row.last_order_at == NOW - timedelta(days=10)
    assert ann_row.figures_as_of == NOW
    for nobody in (ben_row, cy_row):  # only a returned order, or none at all
        assert (nobody.orders_count, nobody.total_spent_minor, nobody.spent_365d_minor) == (0, 0, 0)
        assert (nobody.first_order_at, nobody.last_order_at) == (None, None)
        assert nobody.figures_as_of == NOW
