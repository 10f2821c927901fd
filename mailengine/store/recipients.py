"""What the dispatcher needs at send time: each customer as they are now, and their orders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.customers import customer_table
from mailengine.store.orders import order_table
from mailengine.store.suppressions import reasons_by_hash

_CUSTOMER_COLUMNS = (
    "id",
    "email",
    "email_hash",
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
_ORDER_COLUMNS = (
    "customer_id",
    "external_id",
    "channel",
    "store_location",
    "amount_minor",
    "currency",
    "status",
    "items",
    "placed_at",
    "shipped_at",
    "expected_ship_date",
)


@dataclass(frozen=True)
class OrderSnapshot:
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


def load_recipients(
    session: Session, customer_ids: Iterable[int], orders_each: int = 5
) -> dict[int, RecipientSnapshot]:
    """Snapshots of these customers in two queries (customers, then their recent orders)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    c, o = customer_table.c, order_table.c
    rows = [
        dict(row._mapping)
        for row in session.execute(
            select(*(c[name] for name in _CUSTOMER_COLUMNS)).where(c.id.in_(ids))
        )
    ]
    blocked = reasons_by_hash(session, (row["email_hash"] for row in rows))
    orders: dict[int, list[OrderSnapshot]] = defaultdict(list)
    statement = (
        select(*(o[name] for name in _ORDER_COLUMNS))
        .where(o.customer_id.in_(ids))
        .order_by(o.customer_id, o.placed_at.desc(), o.id.desc())
    )
    for row in session.execute(statement):
        mine = orders[row.customer_id]
        if len(mine) < orders_each:
            values = dict(row._mapping)
            del values["customer_id"]
            mine.append(OrderSnapshot(**values))
    return {
        row["id"]: RecipientSnapshot(
            id=row["id"],
            email=row["email"],
            email_hash=row["email_hash"],
            profile={k: v for k, v in row.items() if k not in ("id", "email_hash")},
            consent_status=row["consent_status"],
            forgotten=row["forgotten_at"] is not None,
            suppression=blocked.get(row["email_hash"]),
            orders=orders.get(row["id"], []),
        )
        for row in rows
    }


def suppressions_of(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """The suppression reason of each of these addresses (of people who may not be customers)."""
    by_hash = {address_hash(address): address for address in addresses}
    return {by_hash[h]: reason for h, reason in reasons_by_hash(session, by_hash).items()}
