"""`polls.NAME` in an audience: the customer's latest answer to a poll, as SQL.

Each comparison is an EXISTS probe of `poll_latest` by its primary key (customer, poll):
a customer who has not answered matches none of them (`ne` included), `is_set: false` is
the one that finds them. A whole number compares the answer's score, text its name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.sql.elements import ColumnElement

from mailengine.store.audience_figures import compare
from mailengine.store.poll_models import PollLatest
from mailengine.workflows.model import Operator

latest = PollLatest.__table__  # type: ignore[attr-defined]


def poll_condition(
    customer_id: Any, poll: str, operator: Operator, value: Any
) -> ColumnElement[bool]:
    found = select(latest.c.customer_id).where(
        latest.c.customer_id == customer_id, latest.c.poll == poll
    )
    if operator == "is_set":
        answered: ColumnElement[bool] = exists(found)
        return answered if value else ~answered
    sample = value[0] if isinstance(value, tuple) else value
    column = latest.c.score if isinstance(sample, int) else latest.c.answer
    return exists(found.where(compare(column, operator, value)))
