"""New orders and the customers' order figures written in the driver's own SQL.

What `orders.upsert_orders` writes for a group of orders (the API's concurrent requests and
batches): the new orders as one DBAPI executemany on SQLite and one INSERT over arrays on
PostgreSQL (as `outbox.plan_sends`), with the values in the form the columns' types write
them; and each touched customer's figures as one UPDATE whose values the database computes
from the customer's orders (a correlated aggregate over `ix_orders_customer_placed`), where
the figures went through Python and back a customer at a time. SQLAlchemy's processing of
each value of each row was most of the cost of writing a group.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailengine.store.models import UNCOUNTED_ORDER_STATUSES
from mailengine.store.types import UTCDateTime

_UTC = UTCDateTime()
SPEND_WINDOW = timedelta(days=365)  # the span of `spent_365d_minor`
_ORDER_COLUMNS = (
    "external_id", "customer_id", "channel", "store_location", "amount_minor", "currency",
    "base_amount_minor", "status", "items", "placed_at", "shipped_at", "expected_ship_date",
)  # fmt: skip


def insert_orders(session: Session, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Insert new orders: `rows` hold the values of `_ORDER_COLUMNS` (Python values, as the
    ORM takes them); `created_at` and `updated_at` are `now`."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    stamp = _UTC.process_bind_param(now, dialect)

    def moment(value: datetime | None) -> Any:
        return None if value is None else _UTC.process_bind_param(value, dialect)

    values = [
        (
            row["external_id"], row["customer_id"], row["channel"], row["store_location"],
            row["amount_minor"], row["currency"], row["base_amount_minor"], row["status"],
            json.dumps(row["items"]), moment(row["placed_at"]), moment(row["shipped_at"]),
            row["expected_ship_date"],
        )
        for row in rows
    ]  # fmt: skip
    if dialect.name != "postgresql":
        connection.exec_driver_sql(
            _INSERT_ORDERS_SQLITE,
            [
                (*row[:11], None if row[11] is None else row[11].isoformat(), stamp, stamp)
                for row in values
            ],
        )
        return
    columns = zip(*values, strict=True)
    parameters: dict[str, Any] = {
        name: list(column) for name, column in zip(_ORDER_COLUMNS, columns, strict=True)
    }
    parameters["now"] = stamp
    connection.exec_driver_sql(_INSERT_ORDERS_POSTGRESQL, parameters)


def write_figures(session: Session, customer_ids: Sequence[int], now: datetime) -> None:
    """Set the order figures of these customers from their orders, as of `now`: count, total
    and 365-day spend of the counted orders (not cancelled or returned), first and last."""
    if not customer_ids:
        return
    connection = session.connection()
    dialect = connection.dialect
    since = _UTC.process_bind_param(now - SPEND_WINDOW, dialect)
    stamp = _UTC.process_bind_param(now, dialect)
    if dialect.name != "postgresql":
        connection.exec_driver_sql(
            _FIGURES_SQLITE,
            (since, stamp, json.dumps(UNCOUNTED_ORDER_STATUSES), json.dumps(list(customer_ids))),
        )
        return
    connection.exec_driver_sql(
        _FIGURES_POSTGRESQL,
        {
            "since": since,
            "now": stamp,
            "uncounted": list(UNCOUNTED_ORDER_STATUSES),
            "ids": list(customer_ids),
        },
    )


_INSERT_ORDERS_SQLITE = """
    INSERT INTO orders (
        external_id, customer_id, channel, store_location, amount_minor, currency,
        base_amount_minor, status, items, placed_at, shipped_at, expected_ship_date,
        created_at, updated_at
    )
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# One array per column, sent in binary (`%(name)b`, psycopg's placeholder), so the text of the
# statement never changes with the number of rows.
_INSERT_ORDERS_POSTGRESQL = """
    INSERT INTO orders (
        external_id, customer_id, channel, store_location, amount_minor, currency,
        base_amount_minor, status, items, placed_at, shipped_at, expected_ship_date,
        created_at, updated_at
    )
    SELECT external_id, customer_id, channel, store_location, amount_minor, currency,
           base_amount_minor, status, items, placed_at, shipped_at, expected_ship_date,
           %(now)b, %(now)b
    FROM unnest(
        CAST(%(external_id)b AS text[]), CAST(%(customer_id)b AS integer[]),
        CAST(%(channel)b AS text[]), CAST(%(store_location)b AS text[]),
        CAST(%(amount_minor)b AS bigint[]), CAST(%(currency)b AS text[]),
        CAST(%(base_amount_minor)b AS bigint[]), CAST(%(status)b AS text[]),
        CAST(%(items)b AS jsonb[]), CAST(%(placed_at)b AS timestamptz[]),
        CAST(%(shipped_at)b AS timestamptz[]), CAST(%(expected_ship_date)b AS date[])
    ) WITH ORDINALITY AS new (
        external_id, customer_id, channel, store_location, amount_minor, currency,
        base_amount_minor, status, items, placed_at, shipped_at, expected_ship_date, position
    )
    ORDER BY position
"""
_FIGURES_SQLITE = """
    UPDATE customer SET (
        orders_count, total_spent_minor, first_order_at, last_order_at, spent_365d_minor,
        figures_as_of
    ) = (
        SELECT count(*), coalesce(sum(base_amount_minor), 0), min(placed_at), max(placed_at),
               coalesce(sum(CASE WHEN placed_at >= ?1 THEN base_amount_minor ELSE 0 END), 0),
               ?2
        FROM orders
        WHERE orders.customer_id = customer.id
          AND orders.status NOT IN (SELECT value FROM json_each(?3))
    )
    WHERE customer.id IN (SELECT value FROM json_each(?4))
"""
_FIGURES_POSTGRESQL = """
    UPDATE customer SET (
        orders_count, total_spent_minor, first_order_at, last_order_at, spent_365d_minor,
        figures_as_of
    ) = (
        SELECT count(*), coalesce(sum(base_amount_minor), 0), min(placed_at), max(placed_at),
               coalesce(sum(CASE WHEN placed_at >= %(since)b THEN base_amount_minor ELSE 0
                                 END), 0),
               %(now)b
        FROM orders
        WHERE orders.customer_id = customer.id
          AND orders.status <> ALL(CAST(%(uncounted)b AS text[]))
    )
    WHERE customer.id = ANY(CAST(%(ids)b AS integer[]))
"""
