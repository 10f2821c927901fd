"""Run audience queries: count, stream in batches of plain tuples, sample, and show the SQL.

The only place audience statements (built by `mailengine.workflows.audience`) are executed.
Rows come back as plain column tuples, never ORM entities: streaming a million customers as
entities is ten times slower and holds every row in the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from mailengine.store.audience_sql import (
    audience_count,
    audience_select,
    condition_count,
    customer_condition,
)
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Condition, Workflow

DEFAULT_BATCH_SIZE = 1000


class AudienceRow(NamedTuple):
    """One customer of an audience: enough to enroll and address them."""

    customer_id: int
    email: str
    first_name: str | None
    last_name: str | None
    locale: str | None
    timezone: str | None


def count_audience(session: Session, workflow: Workflow, context: AudienceContext) -> int:
    """How many customers the workflow's audience holds at `context.now`."""
    return int(session.execute(audience_count(workflow, context)).scalar_one())


def count_condition(
    session: Session, audience: Condition | None, context: AudienceContext, *, transactional: bool
) -> int:
    """How many customers an audience (a broadcast's; None: everyone eligible) holds now."""
    statement = condition_count(audience, context, transactional=transactional)
    return int(session.execute(statement).scalar_one())


def stream_audience(
    session: Session,
    workflow: Workflow,
    context: AudienceContext,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[list[AudienceRow]]:
    """The audience in customer id order, `batch_size` rows at a time.

    Uses a server-side cursor on PostgreSQL (`yield_per`), so memory stays flat; consume the
    iterator inside the session's transaction.
    """
    statement = audience_select(workflow, context)
    # Per statement: set on the connection, yield_per would also stream later INSERTs.
    result = session.execute(statement, execution_options={"yield_per": batch_size})
    try:
        for partition in result.partitions(batch_size):
            yield [AudienceRow(*row) for row in partition]
    finally:
        result.close()


def sample_audience(
    session: Session, workflow: Workflow, context: AudienceContext, limit: int = 20
) -> list[AudienceRow]:
    """The first `limit` customers of the audience (by customer id)."""
    statement = audience_select(workflow, context).limit(limit)
    return [AudienceRow(*row) for row in session.execute(statement)]


def customer_matches(
    session: Session, condition: Condition, customer_id: int, context: AudienceContext
) -> bool:
    """Does this customer match `condition` on their data now (a branch, an exit goal)?"""
    statement = customer_condition(condition, customer_id, context)
    return session.execute(statement).first() is not None


def audience_sql(workflow: Workflow, context: AudienceContext, engine: Engine) -> str:
    """The audience query as SQL for the engine's dialect, values inlined: for display only."""
    return render_sql(audience_select(workflow, context), engine.dialect)


def render_sql(statement: Select[Any], dialect: Dialect) -> str:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)
