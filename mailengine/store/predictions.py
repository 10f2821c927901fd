"""Where predicted figures live: each customer's (on the customer row) and the shop's own.

The nightly prediction job computes them and hands them here; audiences, branches, templates
and the planner read them from the customer row. `write_predictions` updates any number of
customers with statements whose text never changes with the number of rows (as `outbox`'s
planning does): PostgreSQL gets one array per column through `unnest`, SQLite runs the DBAPI
executemany, so a million customers take seconds, not the minutes of one UPDATE per row
through the ORM. Values are checked first: a probability outside 0-1 or an hour outside 0-23
is a bug in the job, refused before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from mailengine.store.inbound_store import insert_for
from mailengine.store.models import ShopFigure
from mailengine.store.types import UTCDateTime

shop_figures_table = ShopFigure.__table__  # type: ignore[attr-defined]
SHOP_BEST_SEND_HOUR = "best_send_hour"
_UTC = UTCDateTime()
# Rows per statement. PostgreSQL joins each batch to the customers by hash (a scan of the
# table) or by index: larger batches make a scan worth it and there are fewer of them.
_BATCH_POSTGRESQL = 50_000
_BATCH_SQLITE = 10_000


class CustomerPrediction(NamedTuple):
    """One customer's predicted figures; None where the job has no figure for them."""

    customer_id: int
    p_active: float | None
    churn_risk: float | None
    expected_orders_90d: float | None
    predicted_next_order_at: datetime | None
    predicted_value_365d_minor: int | None
    best_send_hour: int | None
    predicted_at: datetime


_WRITE_POSTGRESQL = """
    UPDATE customer SET
        p_active = p.p_active, churn_risk = p.churn_risk,
        expected_orders_90d = p.expected_orders_90d,
        predicted_next_order_at = p.predicted_next_order_at,
        predicted_value_365d_minor = p.predicted_value_365d_minor,
        best_send_hour = p.best_send_hour, predicted_at = p.predicted_at
    FROM unnest(
        CAST(%(customer_id)b AS integer[]), CAST(%(p_active)b AS float8[]),
        CAST(%(churn_risk)b AS float8[]), CAST(%(expected_orders_90d)b AS float8[]),
        CAST(%(predicted_next_order_at)b AS timestamptz[]),
        CAST(%(predicted_value_365d_minor)b AS bigint[]),
        CAST(%(best_send_hour)b AS smallint[]), CAST(%(predicted_at)b AS timestamptz[])
    ) AS p (
        customer_id, p_active, churn_risk, expected_orders_90d, predicted_next_order_at,
        predicted_value_365d_minor, best_send_hour, predicted_at
    )
    WHERE customer.id = p.customer_id
"""
_WRITE_SQLITE = """
    UPDATE customer SET
        p_active = ?, churn_risk = ?, expected_orders_90d = ?, predicted_next_order_at = ?,
        predicted_value_365d_minor = ?, best_send_hour = ?, predicted_at = ?
    WHERE id = ?
"""


def write_predictions(session: Session, rows: Iterable[CustomerPrediction]) -> int:
    """Store these customers' predicted figures (all seven columns of each, None included);
    returns how many customers were updated (ids that name no customer are skipped).

    `rows` may be a generator: it is read a batch at a time. ValueError names the first
    row with an impossible value, before that batch is written.
    """
    connection = session.connection()
    dialect = connection.dialect
    stamps: dict[datetime, Any] = {}  # predicted_at is most often one moment for all
    updated = 0
    size = _BATCH_POSTGRESQL if dialect.name == "postgresql" else _BATCH_SQLITE
    for batch in _batches(rows, size):
        values = [_checked(row, dialect, stamps) for row in batch]
        if dialect.name == "postgresql":
            columns = zip(*values, strict=True)
            names = CustomerPrediction._fields
            parameters = {name: list(each) for name, each in zip(names, columns, strict=True)}
            result = connection.exec_driver_sql(_WRITE_POSTGRESQL, parameters)
        else:  # the id goes last, into the WHERE
            rows_last = [(*value[1:], value[0]) for value in values]
            result = connection.exec_driver_sql(_WRITE_SQLITE, rows_last)
        updated += int(result.rowcount)
    return updated


def _batches(rows: Iterable[CustomerPrediction], size: int) -> Iterator[list[CustomerPrediction]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _checked(
    row: CustomerPrediction, dialect: Dialect, stamps: dict[datetime, Any]
) -> tuple[Any, ...]:
    """The row's values as the columns store them (NaN as None), or ValueError when one
    cannot be right."""
    customer_id, p_active, churn, orders, next_at, value, hour, predicted_at = row
    p_active, churn, orders = _number(p_active), _number(churn), _number(orders)
    for name, probability in (("p_active", p_active), ("churn_risk", churn)):
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError(f"customer {customer_id}: {name} {probability} is not within 0-1")
    if orders is not None and orders < 0:
        raise ValueError(f"customer {customer_id}: expected_orders_90d {orders} is negative")
    if hour is not None and (isinstance(hour, bool) or hour not in range(24)):
        raise ValueError(f"customer {customer_id}: best_send_hour {hour!r} is not 0-23")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"customer {customer_id}: predicted value {value!r} is not minor units")
    if predicted_at is None:
        raise ValueError(f"customer {customer_id}: predicted_at is missing")
    stamp = _UTC.process_bind_param
    at = stamps.get(predicted_at)
    if at is None:
        at = stamps[predicted_at] = stamp(predicted_at, dialect)
    return customer_id, p_active, churn, orders, stamp(next_at, dialect), value, hour, at


def _number(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)


# --- the shop's own figures ------------------------------------------------------------------


def write_shop_figure(session: Session, key: str, value: Any, now: datetime) -> None:
    """Set one figure of the shop (JSON-able), replacing what was stored under `key`."""
    insert = insert_for(session)
    statement = insert(shop_figures_table).values(key=key, value=value, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": now}
        )
    )


def shop_figure(session: Session, key: str) -> Any | None:
    """The shop's figure stored under `key`, or None when there is none."""
    s = shop_figures_table.c
    row = session.execute(select(s.value).where(s.key == key)).first()
    return None if row is None else row[0]


def shop_best_send_hour(session: Session) -> int | None:
    """The hour of the day (0-23, each customer's local time) the shop's customers read their
    mail most, once the nightly job has found one; None before (or when what is stored is not
    an hour)."""
    value = shop_figure(session, SHOP_BEST_SEND_HOUR)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23:
        return value
    return None
