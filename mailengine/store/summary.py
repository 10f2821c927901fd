"""Figures about the whole customer view, for `mailengine status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from mailengine.store.customers import customer_table
from mailengine.store.orders import order_table


@dataclass(frozen=True)
class StoreSummary:
    customers: int
    consent: dict[str, int]
    orders: int
    orders_by_channel: dict[str, int]
    revenue_minor: int
    buyers: int
    lapsed_buyers: int  # ordered before, but not in the last 90 days
    top_fifth_revenue_share: float  # share of revenue from the top 20 % of buyers
    last_order_at: datetime | None


def summarize(session: Session, now: datetime) -> StoreSummary:
    c, o = customer_table.c, order_table.c
    consent = dict(
        session.execute(select(c.consent_status, func.count()).group_by(c.consent_status)).all()
    )
    by_channel = dict(session.execute(select(o.channel, func.count()).group_by(o.channel)).all())
    revenue, buyers = session.execute(
        select(func.coalesce(func.sum(c.total_spent_minor), 0), func.count()).where(
            c.orders_count > 0
        )
    ).one()
    lapsed = session.execute(
        select(func.count()).where(c.orders_count > 0, c.last_order_at < now - timedelta(days=90))
    ).scalar_one()
    top = max(1, buyers // 5) if buyers else 0
    top_revenue = 0
    if top:
        top_spenders = (
            select(c.total_spent_minor)
            .where(c.orders_count > 0)
            .order_by(c.total_spent_minor.desc())
            .limit(top)
            .subquery()
        )
        top_revenue = session.execute(
            select(func.coalesce(func.sum(top_spenders.c.total_spent_minor), 0))
        ).scalar_one()
    return StoreSummary(
        customers=sum(consent.values()),
        consent=consent,
        orders=sum(by_channel.values()),
        orders_by_channel=by_channel,
        revenue_minor=int(revenue),
        buyers=int(buyers),
        lapsed_buyers=int(lapsed),
        top_fifth_revenue_share=(int(top_revenue) / int(revenue)) if revenue else 0.0,
        last_order_at=session.execute(select(func.max(c.last_order_at))).scalar_one(),
    )
