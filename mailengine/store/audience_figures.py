"""Audience conditions on order figures: spend and orders over a window, the top N % by a
stored figure, RFM scores and segments; and the comparisons every condition uses.

Part of the audience compiler (`audience_sql` builds the rest): SQLAlchemy expressions over
the customer and order tables, values bound, never SQL text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from mailengine.store.models import UNCOUNTED_ORDER_STATUSES, Customer, Order
from mailengine.store.sql_values import Unindexed
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import (
    Operator,
    RfmScore,
    RfmSegment,
    TopPercent,
    WindowComparison,
)
from mailengine.workflows.rfm import SEGMENTS

orders = Order.__table__  # type: ignore[attr-defined]
c = Customer.__table__.c  # type: ignore[attr-defined]


def compare(column: Any, operator: Operator, value: Any) -> ColumnElement[bool]:
    """`column operator value`; `ne` and `not_in` let an empty column through."""
    if operator == "eq":
        return column == value  # type: ignore[no-any-return]
    if operator == "ne":
        return column.is_distinct_from(value)  # type: ignore[no-any-return]
    if operator == "in":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if operator == "not_in":
        return or_(column.is_(None), column.not_in(list(value)))
    if operator == "gt":
        return column > value  # type: ignore[no-any-return]
    if operator == "gte":
        return column >= value  # type: ignore[no-any-return]
    if operator == "lt":
        return column < value  # type: ignore[no-any-return]
    if operator == "lte":
        return column <= value  # type: ignore[no-any-return]
    raise ValueError(f"operator '{operator}' does not compare values")


def to_minor(value: Any, context: AudienceContext) -> Any:
    """An amount in major units (49.90) as the minor units stored (4990), a tuple itemwise."""
    scale = Decimal(10) ** context.currency_exponent
    if isinstance(value, tuple):
        return tuple(to_minor(item, context) for item in value)
    exact = (Decimal(value) * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(exact)


def window_condition(condition: WindowComparison, context: AudienceContext) -> ColumnElement[bool]:
    o = orders.c
    measure = func.sum(o.base_amount_minor) if condition.metric == "spent" else func.count()
    figure = (
        select(func.coalesce(measure, 0))
        .where(
            o.customer_id == c.id,
            o.placed_at >= context.now - condition.window,
            o.placed_at <= context.now,
            o.status.not_in(UNCOUNTED_ORDER_STATUSES),
        )
        .scalar_subquery()
    )
    value = condition.value
    if condition.metric == "spent":
        value = to_minor(value, context)
    return compare(figure, condition.operator, value)


_RANKED_BY = {
    "spent_365d": c.spent_365d_minor,
    "total_spent": c.total_spent_minor,
    "orders_count": c.orders_count,
}


def top_percent(condition: TopPercent) -> ColumnElement[bool]:
    """The top N % of customers with a figure above zero, ranked over all of them (not only
    those the rest of the audience keeps): a VIP is a VIP whether or not they opted in.

    N % of n customers is ceil(n * N / 100); customers tied with the last of them are in
    too. Computed as a threshold (the figure at that rank, found by walking the figure's
    index) because a window function sorting every buyer takes 1-2 s on SQLite at 1M.
    """
    metric = _RANKED_BY[condition.by]
    ranked = metric > 0
    buyers = select(func.count()).where(ranked).scalar_subquery()
    last_rank = (buyers * condition.percent + 99) // 100 - 1
    threshold = (
        select(metric)
        .where(ranked)
        .order_by(metric.desc())
        .limit(1)
        .offset(case((last_rank < 0, 0), else_=last_rank))
        .scalar_subquery()
    )
    figure = Unindexed(metric)
    return and_(figure > 0, figure >= threshold)


def rfm(condition: RfmScore | RfmSegment) -> ColumnElement[bool]:
    buyers = and_(c.orders_count > 0, c.last_order_at.is_not(None), c.forgotten_at.is_(None))
    scores = (
        select(
            c.id.label("customer_id"),
            func.ntile(5).over(order_by=(c.last_order_at, c.id)).label("r"),
            func.ntile(5).over(order_by=(c.orders_count, c.id)).label("f"),
            func.ntile(5).over(order_by=(c.total_spent_minor, c.id)).label("m"),
        )
        .where(buyers)
        .subquery("rfm")
    )
    s = scores.c
    if isinstance(condition, RfmScore):
        test = compare(s.r + s.f + s.m, condition.operator, condition.value)
    else:
        cells = [cell for name in condition.segments for cell in SEGMENTS[name]]
        test = or_(
            false(),
            *(and_(s.r.between(*cell.recency), s.f.between(*cell.frequency)) for cell in cells),
        )
    scored_in: ColumnElement[bool] = c.id.in_(select(s.customer_id).where(test))
    return scored_in
