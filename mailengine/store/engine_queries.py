"""Audience questions the engine asks about one customer, or about a yearly date."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import NamedTuple

from sqlalchemy import select
from sqlmodel import Session

from mailengine.store.audience_sql import audience_filter, yearly_filter
from mailengine.store.customers import customer_table
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Workflow, YearlyTrigger


def customer_in_audience(
    session: Session, workflow: Workflow, customer_id: int, context: AudienceContext
) -> bool:
    """Is this customer in the workflow's audience now (eligibility and consent included)?"""
    return bool(customers_in_audience(session, workflow, [customer_id], context))


def customers_in_audience(
    session: Session, workflow: Workflow, customer_ids: Iterable[int], context: AudienceContext
) -> set[int]:
    """Those of these customers who are in the workflow's audience now (one query per 2,000)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return set()
    c = customer_table.c
    audience = audience_filter(workflow, context)
    found: set[int] = set()
    for start in range(0, len(ids), 2000):
        statement = select(c.id).where(c.id.in_(ids[start : start + 2000]), audience)
        found.update(int(customer_id) for customer_id in session.execute(statement).scalars())
    return found


def yearly_audience(
    session: Session,
    workflow: Workflow,
    trigger: YearlyTrigger,
    days: Iterable[date],
    context: AudienceContext,
    batch_size: int = 1000,
) -> Iterator[list[tuple[int, str | None]]]:
    """(customer id, time zone) of the audience whose yearly date falls on one of `days`."""
    c = customer_table.c
    statement = (
        select(c.id, c.timezone)
        .where(yearly_filter(trigger, days), audience_filter(workflow, context))
        .order_by(c.id)
    )
    result = session.execute(statement, execution_options={"yield_per": batch_size})
    try:
        for partition in result.partitions(batch_size):
            yield [(row[0], row[1]) for row in partition]
    finally:
        result.close()


class Contact(NamedTuple):
    address: str
    timezone: str | None
    best_send_hour: int | None  # predicted; None: not (yet) known


def contacts_of(session: Session, customer_ids: Iterable[int]) -> dict[int, Contact]:
    """customer id -> (address, time zone, best hour to send)."""
    ids = sorted(set(customer_ids))
    c = customer_table.c
    found: dict[int, Contact] = {}
    for start in range(0, len(ids), 2000):
        statement = select(c.id, c.email, c.timezone, c.best_send_hour).where(
            c.id.in_(ids[start : start + 2000])
        )
        found.update({row[0]: Contact(*row[1:]) for row in session.execute(statement)})
    return found
