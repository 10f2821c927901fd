"""The report's figures day by day: sends, deliveries, opens, clicks, unsubscribes per workflow.

The same mail as `reporting.build_report` counts (outbox rows planned since `since` that
were sent), so the days of a series add up to the report's totals. Sends and deliveries fall
on the day of the send; opens, clicks and unsubscribes on the day of the first such event
(a click counts as an open, as in the report).

Days are the shop's local days. Which day a moment falls on is decided in SQL by comparing
with the local midnights (a CASE over the day boundaries), so one grouped query per figure
set serves both SQLite and PostgreSQL, and a 23- or 25-hour day around a clock change is one
day.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.store.api_queries import tracking_event_table
from mailengine.store.outbox import outbox_table

MAX_DAYS = 400
SERIES = ("sent", "delivered", "opened", "clicked", "unsubscribed", "conversions", "revenue")


@dataclass(frozen=True)
class DayGrid:
    """The local days from `since`'s day to `until`'s day, and which day a moment is on."""

    days: tuple[date, ...]
    starts: tuple[datetime, ...]  # when each day begins (UTC), then when the last one ends

    @classmethod
    def between(cls, since: datetime, until: datetime, zone: ZoneInfo) -> DayGrid:
        first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
        count = (last - first).days + 1
        if count < 1 or count > MAX_DAYS:
            raise ValueError(f"a daily series covers 1 to {MAX_DAYS} days, not {count}")
        days = tuple(first + timedelta(days=offset) for offset in range(count + 1))
        starts = tuple(datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC) for day in days)
        return cls(days[:-1], starts)

    def index(self, moment: datetime) -> int | None:
        """The day `moment` falls on (None before the first day or after the last)."""
        if moment < self.starts[0] or moment >= self.starts[-1]:
            return None
        return bisect.bisect_right(self.starts, moment) - 1

    def bucket(self, column: ColumnElement[Any]) -> ColumnElement[int]:
        """The day index of `column` as SQL (earlier moments count on the first day, later
        ones on the last)."""
        inner = self.starts[1:-1]
        if not inner:
            return literal(0)
        whens = [(column < start, index) for index, start in enumerate(inner)]
        return case(*whens, else_=len(inner))


@dataclass
class DailyFigures:
    """One list per figure, one value per day of the grid (revenue in minor units)."""

    days: tuple[date, ...]
    values: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in SERIES:
            self.values.setdefault(name, [0] * len(self.days))

    def add(self, name: str, day: int, amount: int) -> None:
        self.values[name][day] += amount

    def total(self, name: str) -> int:
        return sum(self.values[name])


def daily_mail_figures(
    session: Session, grid: DayGrid, since: datetime, workflow: str | None = None
) -> dict[str, DailyFigures]:
    """Sends, deliveries, opens, clicks and unsubscribes per day, by workflow."""
    found: dict[str, DailyFigures] = defaultdict(lambda: DailyFigures(grid.days))
    o, e = outbox_table.c, tracking_event_table.c
    sent_rows = and_(o.created_at >= since, o.state == "sent")
    if workflow is not None:
        sent_rows = and_(sent_rows, o.workflow == workflow)
    bounced = select(e.outbox_id).where(e.kind == "bounce").distinct().subquery()
    day = grid.bucket(func.coalesce(o.sent_at, o.created_at)).label("day")
    sends = (
        select(o.workflow, day, func.count(), func.count(bounced.c.outbox_id))
        .select_from(outbox_table.outerjoin(bounced, bounced.c.outbox_id == o.id))
        .where(sent_rows)
        .group_by(o.workflow, day)
    )
    for name, index, sent, bounces in session.execute(sends):
        found[name].add("sent", index, int(sent))
        found[name].add("delivered", index, int(sent) - int(bounces))
    for name, figure, index, count in session.execute(_first_events(grid, sent_rows)):
        found[name].add(figure, index, int(count))
    return dict(found)


def _first_events(grid: DayGrid, sent_rows: ColumnElement[bool]) -> Any:
    """(workflow, figure, day, messages) for each message's first open, click, unsubscribe."""
    o, e = outbox_table.c, tracking_event_table.c

    def first(kinds: tuple[str, ...]) -> ColumnElement[Any]:
        return func.min(case((e.kind.in_(kinds), e.occurred_at)))

    firsts = (
        select(
            o.workflow.label("workflow"),
            first(("open", "click")).label("opened"),
            first(("click",)).label("clicked"),
            first(("unsubscribe",)).label("unsubscribed"),
        )
        .select_from(tracking_event_table.join(outbox_table, o.id == e.outbox_id))
        .where(sent_rows, e.kind.in_(("open", "click", "unsubscribe")))
        .group_by(e.outbox_id, o.workflow)
        .cte("firsts")
    )
    parts = []
    for figure in ("opened", "clicked", "unsubscribed"):
        moment = firsts.c[figure]
        day = grid.bucket(moment).label("day")
        parts.append(
            select(firsts.c.workflow, literal(figure).label("figure"), day, func.count())
            .where(moment.is_not(None))
            .group_by(firsts.c.workflow, day)
        )
    return union_all(*parts)


def add_credited_orders(
    figures: DailyFigures, grid: DayGrid, orders: Iterable[tuple[datetime, int]]
) -> None:
    """Conversions and revenue by the day of the order credited to the workflow."""
    for placed_at, amount in orders:
        index = grid.index(placed_at)
        if index is not None:
            figures.add("conversions", index, 1)
            figures.add("revenue", index, amount)
