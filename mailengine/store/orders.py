"""Order queries: bulk upsert by external id, and the per-customer figures they drive."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col
from sqlmodel import select as select_models

from mailengine.store.customers import customer_table, ensure_customers
from mailengine.store.models import Order
from mailengine.store.order_writes import insert_orders, write_figures
from mailengine.store.records import OrderUpsert, UpsertOutcome
from mailengine.store.sql_values import one_of
from mailengine.store.sqlite_lookups import rows_of_keys, sqlite_driver

order_table = Order.__table__  # type: ignore[attr-defined]

_ORDER_FIELDS = (
    "customer_id",
    "channel",
    "store_location",
    "amount_minor",
    "currency",
    "base_amount_minor",
    "status",
    "items",
    "placed_at",
    "shipped_at",
    "expected_ship_date",
)


def upsert_orders(
    session: Session,
    records: Sequence[OrderUpsert],
    now: datetime,
    existing: dict[str, tuple[int, int]] | None = None,
    customer_ids: dict[str, int] | None = None,
) -> UpsertOutcome:
    """Insert or update orders by external id, then refresh the figures of every customer touched.

    Customers are found by e-mail address; an order from an unknown address creates a bare
    customer without consent, so no order is lost and nobody is mailed without a yes.
    `existing`: what `orders_by_external_id` gave for these orders, and `customer_ids` the
    ids of every address of `records` (`ensure_customers`), when the caller has them.
    """
    outcome = UpsertOutcome()
    if not records:
        return outcome
    if customer_ids is None:
        customer_ids = ensure_customers(session, (record.email for record in records), now)
    if existing is None:
        external_ids = list(dict.fromkeys(record.external_id for record in records))
        existing = orders_by_external_id(session, external_ids)
    touched: set[int] = set()
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        values = _values(record, customer_ids[record.email])
        row = rows.get(record.external_id)
        if row is None:
            stored = existing.get(record.external_id)
            if stored is not None:
                touched.add(stored[1])
            row = {"id": stored[0] if stored else None, "external_id": record.external_id}
            rows[record.external_id] = row
            if stored is None:
                outcome.inserted += 1
            else:
                outcome.updated += 1
        else:
            outcome.updated += 1
        row.update(values)
        touched.add(values["customer_id"])
    new_rows = [row for row in rows.values() if row["id"] is None]
    old_rows = [row for row in rows.values() if row["id"] is not None]
    insert_orders(session, new_rows, now)
    if old_rows:
        statement = (
            update(order_table)
            .where(order_table.c.id == bindparam("b_id"))
            .values({key: bindparam(f"b_{key}") for key in (*_ORDER_FIELDS, "updated_at")})
        )
        session.connection().execute(
            statement,
            [
                {"b_id": row["id"], "b_updated_at": now}
                | {f"b_{key}": row[key] for key in _ORDER_FIELDS}
                for row in old_rows
            ],
        )
    refresh_figures(session, touched, now)
    outcome.customer_ids = customer_ids
    return outcome


def refresh_figures(session: Session, customer_ids: Iterable[int], now: datetime) -> None:
    """Recompute orders count, spend and first/last order for these customers from their orders.

    One UPDATE per 2,000 customers computes them in the database from each customer's orders
    (by index): audiences read the stored figures and never aggregate orders themselves.
    """
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 2000):
        write_figures(session, ids[start : start + 2000], now)


def refresh_all_figures(session: Session, now: datetime, batch_size: int = 5000) -> int:
    """Refresh every customer's figures (the daily job that ages the 365-day spend)."""
    last_id = 0
    refreshed = 0
    while True:
        ids = list(
            session.execute(
                select(customer_table.c.id)
                .where(customer_table.c.id > last_id)
                .order_by(customer_table.c.id)
                .limit(batch_size)
            ).scalars()
        )
        if not ids:
            return refreshed
        refresh_figures(session, ids, now)
        refreshed += len(ids)
        last_id = ids[-1]


def orders_of(session: Session, customer_id: int, limit: int = 10) -> list[Order]:
    """A customer's most recent orders, newest first."""
    statement = (
        select_models(Order)
        .where(col(Order.customer_id) == customer_id)
        .order_by(col(Order.placed_at).desc(), col(Order.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement).all())


def order_of(session: Session, customer_id: int, external_id: str) -> Order | None:
    """The customer's order with this external id, if stored."""
    statement = select_models(Order).where(
        col(Order.customer_id) == customer_id, col(Order.external_id) == external_id
    )
    return session.exec(statement).first()


def placed_order_data(order: Order | OrderUpsert) -> dict[str, Any]:
    """What an `order.placed` event says about its order (the API's, the CLI's and the demo's
    alike): `external_id` names the order, so mail the event triggers is about this order
    (see `records.order_about`)."""
    return {
        "external_id": order.external_id,
        "channel": order.channel,
        "status": order.status,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "base_amount_minor": order.base_amount_minor,
    }


def orders_by_external_id(
    session: Session, external_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    driver = sqlite_driver(session)
    if driver is not None:  # inside the API's write turn: `store.sqlite_lookups`
        rows = rows_of_keys(driver, _BY_EXTERNAL_ID_SQLITE, external_ids)
        return {str(external_id): (int(oid), int(cid)) for external_id, oid, cid in rows}
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(external_ids), 2000):
        chunk = external_ids[start : start + 2000]
        o = order_table.c
        statement = select(o.external_id, o.id, o.customer_id).where(
            one_of(o.external_id, chunk, session.get_bind().dialect.name)
        )
        found.update(
            {external_id: (oid, cid) for external_id, oid, cid in session.execute(statement)}
        )
    return found


_BY_EXTERNAL_ID_SQLITE = """
    SELECT external_id, id, customer_id FROM orders
    WHERE external_id IN (SELECT value FROM json_each(?))
"""


def _values(record: OrderUpsert, customer_id: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "channel": record.channel,
        "store_location": record.store_location,
        "amount_minor": record.amount_minor,
        "currency": record.currency,
        "base_amount_minor": record.base_amount_minor,
        "status": record.status,
        "items": record.items,
        "placed_at": record.placed_at,
        "shipped_at": record.shipped_at,
        "expected_ship_date": record.expected_ship_date,
    }
