"""The single customer view, read for people: profile, consent history, orders with their
items, events, suppression and bounces. What the engine did with the customer (enrollments,
mail sent, tickets) is in `customer_mail`.

Every function returns plain frozen dataclasses, never ORM rows: pages render from these.
Lists are newest first and capped (`limit`), with the total so a page can say "20 of 312".
May import the store's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlmodel import Session

from mailengine.store.customers import consent_table, customer_table
from mailengine.store.events import event_table, pending_table
from mailengine.store.inbound_store import bounce_table
from mailengine.store.orders import order_table
from mailengine.store.privacy import preferences_of
from mailengine.store.suppressions import MARKETING_ONLY_REASONS, suppression_table

LIST_LIMIT = 50
T = TypeVar("T")


@dataclass(frozen=True)
class CustomerProfile:
    id: int
    email: str
    email_hash: str
    first_name: str | None
    last_name: str | None
    locale: str | None
    timezone: str | None
    birthday: date | None
    zip: str | None
    city: str | None
    country: str | None
    attributes: dict[str, Any]
    consent_status: str
    consent_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    forgotten_at: datetime | None
    orders_count: int
    total_spent_minor: int
    spent_365d_minor: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    figures_as_of: datetime | None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class ConsentChange:
    purpose: str
    status: str
    source: str
    recorded_at: datetime
    ip: str | None
    wording: str | None


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str
    quantity: int
    unit_price: str
    size: str | None


@dataclass(frozen=True)
class OrderSummary:
    external_id: str
    channel: str
    store_location: str | None
    status: str
    amount_minor: int
    currency: str
    placed_at: datetime
    shipped_at: datetime | None
    expected_ship_date: date | None
    items: tuple[OrderLine, ...]


@dataclass(frozen=True)
class EventSummary:
    id: int
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    waiting: bool  # the engine has not worked it yet


@dataclass(frozen=True)
class SuppressionEntry:
    reason: str
    detail: str | None
    created_at: datetime

    @property
    def marketing_only(self) -> bool:
        """An unsubscribe stops marketing only; every other reason stops all mail."""
        return self.reason in MARKETING_ONLY_REASONS


@dataclass(frozen=True)
class Capped(Generic[T]):
    """Up to `limit` items, newest first, and how many there are in all."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class CustomerRecord:
    profile: CustomerProfile
    consent: list[ConsentChange]
    orders: Capped[OrderSummary]
    events: Capped[EventSummary]
    suppression: SuppressionEntry | None
    bounces: dict[str, int]
    preferences: dict[str, bool]


def customer_record(
    session: Session, customer_id: int, limit: int = LIST_LIMIT
) -> CustomerRecord | None:
    """Everything the shop knows about one customer, or None if there is no such customer."""
    profile = customer_profile(session, customer_id)
    if profile is None:
        return None
    return CustomerRecord(
        profile=profile,
        consent=consent_changes(session, customer_id),
        orders=recent_orders(session, customer_id, limit),
        events=recent_events(session, customer_id, limit),
        suppression=suppression_entry(session, profile.email_hash),
        bounces=bounce_kinds(session, profile.email_hash),
        preferences=preferences_of(session, customer_id),
    )


def customer_profile(session: Session, customer_id: int) -> CustomerProfile | None:
    c = customer_table.c
    names = CustomerProfile.__dataclass_fields__
    row = session.execute(select(*(c[name] for name in names)).where(c.id == customer_id)).first()
    return CustomerProfile(**row._mapping) if row is not None else None


def consent_changes(session: Session, customer_id: int) -> list[ConsentChange]:
    """Every recorded change of consent, newest first (kept as proof, never capped)."""
    k = consent_table.c
    statement = (
        select(k.purpose, k.status, k.source, k.recorded_at, k.ip, k.wording)
        .where(k.customer_id == customer_id)
        .order_by(k.recorded_at.desc(), k.id.desc())
    )
    return [ConsentChange(**row._mapping) for row in session.execute(statement)]


def recent_orders(session: Session, customer_id: int, limit: int) -> Capped[OrderSummary]:
    """Orders online and in store, newest first, with their items."""
    o = order_table.c
    statement = (
        select(
            o.external_id, o.channel, o.store_location, o.status, o.amount_minor, o.currency,
            o.placed_at, o.shipped_at, o.expected_ship_date, o["items"],
        )
        .where(o.customer_id == customer_id)
        .order_by(o.placed_at.desc(), o.id.desc())
        .limit(limit)
    )  # fmt: skip
    orders = []
    for row in session.execute(statement):
        values = dict(row._mapping)
        values["items"] = tuple(_order_line(item) for item in values["items"] or ())
        orders.append(OrderSummary(**values))
    total = session.execute(select(func.count()).where(o.customer_id == customer_id)).scalar_one()
    return Capped(orders, int(total))


def _order_line(item: Any) -> OrderLine:
    """An order item as the shop sent it; missing or odd keys shown as blanks."""
    data = item if isinstance(item, dict) else {}
    quantity = data.get("quantity", 1)
    size = data.get("size")
    return OrderLine(
        sku=str(data.get("sku", "")),
        name=str(data.get("name", "")),
        quantity=quantity if isinstance(quantity, int) else 1,
        unit_price=str(data.get("unit_price", "")),
        size=str(size) if size not in (None, "") else None,
    )


def recent_events(session: Session, customer_id: int, limit: int) -> Capped[EventSummary]:
    e, pending = event_table.c, pending_table.c
    statement = (
        select(e.id, e.type, e.data, e.occurred_at, pending.event_id.is_not(None).label("waiting"))
        .select_from(event_table.outerjoin(pending_table, pending.event_id == e.id))
        .where(e.customer_id == customer_id)
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(limit)
    )
    events = [EventSummary(**row._mapping) for row in session.execute(statement)]
    total = session.execute(select(func.count()).where(e.customer_id == customer_id)).scalar_one()
    return Capped(events, int(total))


def suppression_entry(session: Session, email_hash: str) -> SuppressionEntry | None:
    s = suppression_table.c
    row = session.execute(
        select(s.reason, s.detail, s.created_at).where(s.address_hash == email_hash)
    ).first()
    return SuppressionEntry(**row._mapping) if row is not None else None


def bounce_kinds(session: Session, email_hash: str) -> dict[str, int]:
    """Hard and soft bounces and complaints reported for the address."""
    b = bounce_table.c
    statement = select(b.kind, func.count()).where(b.address_hash == email_hash).group_by(b.kind)
    return {kind: int(count) for kind, count in session.execute(statement)}
