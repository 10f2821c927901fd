"""A small, varied sample of an audience (a workflow's, a broadcast's), for trying its mail
before it is sent.

`validate` renders every send step for some real customers: with and without a first name,
orders, attributes, a city, a birthday, and one of each locale found. They are picked from
the oldest and the newest customers of the audience (two short queries by id, never a scan
of all customers for the picking), greedily, so that each one adds something not yet seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.store.audience_sql import condition_filter
from mailengine.store.customers import customer_table
from mailengine.store.events import event_table
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Condition

POOL = 300  # customers read from each end of the audience


def varied_sample(
    session: Session,
    audience: Condition | None,
    context: AudienceContext,
    limit: int = 20,
    *,
    transactional: bool = False,
    buyers_only: bool = False,
    with_birthday: bool = False,
) -> list[int]:
    """Ids of up to `limit` customers of the audience (a workflow's, a broadcast's) now, as
    different from each other as the pool allows. `buyers_only` / `with_birthday`: only
    those the trigger can enroll."""
    c = customer_table.c
    rules: list[ColumnElement[bool]] = [
        condition_filter(audience, context, transactional=transactional)
    ]
    if buyers_only:
        rules.append(c.last_order_at.is_not(None))
    if with_birthday:
        rules.append(c.birthday.is_not(None))
    columns = (c.id, c.first_name, c.orders_count, c.locale, c.city, c.birthday, c.attributes)
    pool: dict[int, Sequence[Any]] = {}
    for order in (c.id.asc(), c.id.desc()):
        statement = select(*columns).where(*rules).order_by(order).limit(POOL)
        pool.update({row[0]: tuple(row) for row in session.execute(statement)})
    return _pick(pool, limit)


def _pick(pool: dict[int, Sequence[Any]], limit: int) -> list[int]:
    seen: set[tuple[str, object]] = set()
    chosen: list[int] = []
    rest: list[int] = []
    for customer_id in sorted(pool):
        traits = set(_traits(pool[customer_id]))
        if len(chosen) < limit and not traits <= seen:
            chosen.append(customer_id)
            seen |= traits
        else:
            rest.append(customer_id)
    step = max(1, len(rest) // max(1, limit - len(chosen)))
    chosen.extend(rest[::step][: limit - len(chosen)])
    return sorted(chosen)


def _traits(row: Sequence[Any]) -> Iterable[tuple[str, object]]:
    _, first_name, orders_count, locale, city, birthday, attributes = row
    yield "first name", bool(first_name and first_name.strip())
    yield "orders", bool(orders_count)
    yield "city", bool(city)
    yield "birthday", birthday is not None
    yield "locale", locale
    names = sorted(attributes) if isinstance(attributes, dict) else []
    yield "attributes", bool(names)
    for name in names:
        yield "attribute", name


def latest_event_data(
    session: Session, customer_ids: Iterable[int], event_type: str
) -> dict[int, dict[str, Any]]:
    """The data of each customer's latest event of this type (for those who had one)."""
    e = event_table.c
    ids = sorted(set(customer_ids))
    statement = (
        select(e.customer_id, e.data)
        .where(e.customer_id.in_(ids), e.type == event_type)
        .order_by(e.customer_id, e.id)
    )
    found: dict[int, dict[str, Any]] = {}
    for customer_id, data in session.execute(statement):
        found[customer_id] = dict(data or {})
    return found
