"""What the dispatcher needs at send time: each customer as they are now (their predicted
figures too), and their orders.

Besides a customer's newest orders, a snapshot holds the orders their sends are about (the
order whose `order.placed` enrolled them), however old: an order confirmation names its own
order, not whichever order is newest by date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.customers import customer_table
from mailengine.store.orders import order_table
from mailengine.store.polls import LatestAnswer, latest_answers_of
from mailengine.store.predictions import CustomerPrediction
from mailengine.store.records import ClaimedSend
from mailengine.store.suppressions import reasons_by_hash, suppression_table

# What `RecipientSnapshot.profile` holds, in this order.
_PROFILE_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "birthday",
    "zip",
    "city",
    "country",
    "attributes",
    "consent_status",
    "forgotten_at",
    "orders_count",
    "total_spent_minor",
    "last_order_at",
)


class OrderSnapshot(NamedTuple):
    """An order as a snapshot holds it: a named tuple, made straight from its row (several a
    message; a frozen dataclass cost five times as much to make)."""

    external_id: str
    channel: str
    store_location: str | None
    amount_minor: int
    currency: str
    status: str
    items: list[dict[str, Any]]
    placed_at: datetime
    shipped_at: datetime | None
    expected_ship_date: date | None


# Orders are read in the order of OrderSnapshot's fields and built by position.
_ORDER_COLUMNS = OrderSnapshot._fields


# Read after the profile, in the order of CustomerPrediction's fields (after its id).
_PREDICTION_COLUMNS = CustomerPrediction._fields[1:]


@dataclass(frozen=True)
class RecipientSnapshot:
    """A customer's profile, consent and recent orders (newest first), read at send time."""

    id: int
    email: str
    email_hash: str
    profile: dict[str, Any]
    consent_status: str
    forgotten: bool
    suppression: str | None  # the reason, when the address is suppressed
    orders: list[OrderSnapshot] = field(default_factory=list)
    # Orders sends are about, by external id (they may be older than the newest few).
    named_orders: dict[str, OrderSnapshot] = field(default_factory=dict)
    predictions: CustomerPrediction | None = None  # None: not predicted yet
    polls: dict[str, LatestAnswer] = field(default_factory=dict)  # latest answer per poll

    def order(self, external_id: str | None) -> OrderSnapshot | None:
        """The customer's order with this external id, if it was loaded."""
        if external_id is None:
            return None
        found = self.named_orders.get(external_id)
        if found is not None:
            return found
        return next((order for order in self.orders if order.external_id == external_id), None)


def _customers_statement() -> Any:
    """The customers with these ids, each with the suppression reason of their address."""
    c, s = customer_table.c, suppression_table.c
    return (
        select(
            c.id,
            c.email_hash,
            s.reason,
            *(c[name] for name in _PROFILE_COLUMNS),
            *(c[name] for name in _PREDICTION_COLUMNS),
        )
        .select_from(customer_table.outerjoin(suppression_table, s.address_hash == c.email_hash))
        .where(c.id.in_(bindparam("ids", expanding=True)))
    )


def _orders_statement() -> Any:
    """Each customer's `each` newest orders, newest first, after their customer id."""
    o = order_table.c
    newest_first = func.row_number().over(
        partition_by=o.customer_id, order_by=(o.placed_at.desc(), o.id.desc())
    )
    ranked = (
        select(o.customer_id, *(o[name] for name in _ORDER_COLUMNS), newest_first.label("rank"))
        .where(o.customer_id.in_(bindparam("ids", expanding=True)))
        .subquery()
    )
    r = ranked.c
    return (
        select(r.customer_id, *(r[name] for name in _ORDER_COLUMNS))
        .where(r.rank <= bindparam("each"))
        .order_by(r.customer_id, r.rank)
    )


def _named_orders_statement() -> Any:
    """Orders by external id, each after its customer id (only those of these customers)."""
    o = order_table.c
    return select(o.customer_id, *(o[name] for name in _ORDER_COLUMNS)).where(
        o.external_id.in_(bindparam("external_ids", expanding=True)),
        o.customer_id.in_(bindparam("ids", expanding=True)),
    )


_PREDICTIONS_START = 3 + len(_PROFILE_COLUMNS)  # where the predicted figures start in a row
# Built once: they do not depend on the customers asked for (the id list expands at execution).
_CUSTOMERS = _customers_statement()
_ORDERS = _orders_statement()
_NAMED_ORDERS = _named_orders_statement()


def load_recipients_of(
    session: Session, sends: Sequence[ClaimedSend]
) -> dict[int, RecipientSnapshot]:
    """Snapshots of the customers these sends go to, with the orders the sends are about."""
    customer_ids = [send.customer_id for send in sends if send.customer_id is not None]
    named = {
        send.order_about
        for send in sends
        if send.customer_id is not None and send.order_about is not None
    }
    return load_recipients(session, customer_ids, named_orders=named)


def load_recipients(
    session: Session,
    customer_ids: Iterable[int],
    orders_each: int = 5,
    named_orders: Iterable[str] = (),
) -> dict[int, RecipientSnapshot]:
    """Snapshots of these customers in two queries: their recent orders, then the customers
    with the suppression of their address; a third reads the orders named by external id
    (those of these customers only), a fourth their latest poll answers. Rows are read by
    position (the statements above fix the order of their columns): this runs for every
    batch a dispatcher sends.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    connection = session.connection()
    orders: dict[int, list[OrderSnapshot]] = {}
    if orders_each > 0:
        for row in connection.execute(_ORDERS, {"ids": ids, "each": orders_each}).all():
            mine = orders.get(row[0])
            if mine is None:
                orders[row[0]] = [OrderSnapshot._make(row[1:])]
            else:
                mine.append(OrderSnapshot._make(row[1:]))
    named: dict[int, dict[str, OrderSnapshot]] = {}
    external_ids = sorted(set(named_orders))
    if external_ids:
        parameters = {"ids": ids, "external_ids": external_ids}
        for row in connection.execute(_NAMED_ORDERS, parameters).all():
            order = OrderSnapshot._make(row[1:])
            named.setdefault(row[0], {})[order.external_id] = order
    answers = latest_answers_of(session, ids)
    snapshots: dict[int, RecipientSnapshot] = {}
    for row in connection.execute(_CUSTOMERS, {"ids": ids}).all():
        customer_id = row[0]
        profile = dict(zip(_PROFILE_COLUMNS, row[3:_PREDICTIONS_START], strict=True))
        predicted = (
            CustomerPrediction(customer_id, *row[_PREDICTIONS_START:])
            if row[-1] is not None  # predicted_at
            else None
        )
        snapshots[customer_id] = RecipientSnapshot(
            id=customer_id,
            email=profile["email"],
            email_hash=row[1],
            profile=profile,
            consent_status=profile["consent_status"],
            forgotten=profile["forgotten_at"] is not None,
            suppression=row[2],
            orders=orders.get(customer_id, []),
            named_orders=named.get(customer_id, {}),
            predictions=predicted,
            polls=answers.get(customer_id, {}),
        )
    return snapshots


def suppressions_of(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """The suppression reason of each of these addresses (of people who may not be customers)."""
    by_hash = {address_hash(address): address for address in addresses}
    return {by_hash[h]: reason for h, reason in reasons_by_hash(session, by_hash).items()}
