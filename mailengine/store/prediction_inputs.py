"""What the prediction job reads: orders, customers' zones and moments of engagement, as arrays.

Rows stream from the database in chunks of `CHUNK` (a server-side cursor on PostgreSQL)
straight into numpy arrays: no ORM objects and no datetime objects, as moments come out of
the database already as whole seconds since the epoch. Only orders that count (not
cancelled or returned) and customers not forgotten are read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, Select, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.store.customers import customer_table
from mailengine.store.models import UNCOUNTED_ORDER_STATUSES
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.store.web_models import TrackingEvent

tracking_table = TrackingEvent.__table__  # type: ignore[attr-defined]
CHUNK = 100_000
ENGAGEMENT_KINDS = ("open", "click")
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class OrderArrays:
    """One entry per counted order: its customer, when it was placed, its amount in minor
    units of the shop currency."""

    customer: Ints
    placed: Ints  # seconds since the epoch
    amount_minor: Ints

    def __len__(self) -> int:
        return int(self.customer.size)


@dataclass(frozen=True)
class CustomerZones:
    """Every customer not forgotten, in ascending id, with the index of their zone's name in
    `names` (None: no zone of their own)."""

    customer: Ints
    zone: Ints
    names: list[str | None]


@dataclass(frozen=True)
class Engagements:
    """Opens and clicks of sent mail: whose, and when (seconds since the epoch)."""

    customer: Ints
    moment: Ints


def _epoch(session: Session, column: Any) -> ColumnElement[int]:
    """A timestamp column as whole seconds since the epoch, computed by the database."""
    if session.connection().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _chunks(session: Session, statement: Select[Any]) -> Iterator[Sequence[Any]]:
    result = session.execute(statement.execution_options(yield_per=CHUNK))
    yield from result.partitions(CHUNK)


def _columns(session: Session, statement: Select[Any], width: int) -> list[Ints]:
    """The integer columns of every row, gathered chunk by chunk."""
    parts: list[Ints] = [np.empty((0, width), dtype=np.int64)]
    for rows in _chunks(session, statement):
        values = chain.from_iterable(rows)  # not np.array(rows): it probes each Row's attributes
        parts.append(
            np.fromiter(values, dtype=np.int64, count=len(rows) * width).reshape(-1, width)
        )
    table = np.concatenate(parts)
    return [np.ascontiguousarray(table[:, index]) for index in range(width)]


def read_orders(session: Session) -> OrderArrays:
    """Every counted order of a customer not forgotten (by customer, then time)."""
    o, c = order_table.c, customer_table.c
    statement = (
        select(o.customer_id, _epoch(session, o.placed_at), o.base_amount_minor)
        .join(customer_table, c.id == o.customer_id)
        .where(o.status.not_in(UNCOUNTED_ORDER_STATUSES), c.forgotten_at.is_(None))
    )
    customer, placed, amount = _columns(session, statement, 3)
    return OrderArrays(customer=customer, placed=placed, amount_minor=amount)


def read_customer_zones(session: Session) -> CustomerZones:
    """Every customer not forgotten, with their zone, in ascending id."""
    c = customer_table.c
    statement = select(c.id, c.timezone).where(c.forgotten_at.is_(None)).order_by(c.id)
    codes: dict[str | None, int] = {None: 0}
    ids: list[Ints] = [np.empty(0, dtype=np.int64)]
    zones: list[Ints] = [np.empty(0, dtype=np.int64)]
    for rows in _chunks(session, statement):
        ids.append(np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)))
        zones.append(
            np.fromiter(
                (codes.setdefault(row[1], len(codes)) for row in rows),
                dtype=np.int64,
                count=len(rows),
            )
        )
    return CustomerZones(np.concatenate(ids), np.concatenate(zones), list(codes))


def read_engagements(session: Session, since: datetime) -> Engagements:
    """Every open and click since `since` of mail sent to a known customer."""
    t, o = tracking_table.c, outbox_table.c
    statement = (
        select(o.customer_id, _epoch(session, t.occurred_at))
        .join(outbox_table, o.id == t.outbox_id)
        .where(t.kind.in_(ENGAGEMENT_KINDS), t.occurred_at >= since, o.customer_id.is_not(None))
    )
    customer, moment = _columns(session, statement, 2)
    return Engagements(customer=customer, moment=moment)
