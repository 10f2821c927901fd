"""Daily report figures on hand-made sends, events and orders: the days add up to the report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.report_series import (
    DailyFigures,
    DayGrid,
    add_credited_orders,
    daily_mail_figures,
)
from mailengine.store.reporting import build_report
from tests.conftest import NOW
from tests.web.conftest import add_customers
from tests.web.test_report import add_send, shop

BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)
SINCE = NOW - 30 * DAY  # 2026-10-24 11:00 in Berlin: the clocks go back on 2026-10-25


@time_machine.travel(NOW, tick=False)
def test_the_grid_has_one_entry_per_local_day_across_a_clock_change() -> None:
    grid = DayGrid.between(SINCE, NOW, BERLIN)
    assert grid.days[0] == date(2026, 10, 24) and grid.days[-1] == date(2026, 11, 23)
    assert len(grid.days) == 31
    assert grid.starts[1] == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # midnight, summer time
    assert grid.starts[2] - grid.starts[1] == timedelta(hours=25)  # the long day
    assert grid.index(datetime(2026, 10, 25, 22, 59, tzinfo=UTC)) == 1  # 23:59 winter time
    assert grid.index(datetime(2026, 10, 25, 23, 0, tzinfo=UTC)) == 2
    assert grid.index(grid.starts[0] - timedelta(microseconds=1)) is None
    assert grid.index(grid.starts[-1]) is None


@time_machine.travel(NOW, tick=False)
def test_a_grid_refuses_a_backward_or_endless_period() -> None:
    with pytest.raises(ValueError, match="1 to 400 days, not 0"):
        DayGrid.between(NOW, NOW - DAY, BERLIN)
    with pytest.raises(ValueError, match="not 731"):
        DayGrid.between(NOW - 730 * DAY, NOW, BERLIN)


@time_machine.travel(NOW, tick=False)
def test_sql_puts_each_moment_on_the_day_python_does(database: Database) -> None:
    grid = DayGrid.between(SINCE, NOW, BERLIN)
    moments = [grid.starts[0] + timedelta(hours=7 * k, minutes=13 * k) for k in range(100)]
    moments += [start - timedelta(microseconds=1) for start in grid.starts[1:-1]]
    moments = sorted({*moments, *grid.starts[:-1]})
    customer = add_customers(database, [("ada@example.com", "granted")])["ada@example.com"]
    for moment in moments:
        add_send(database, customer, "w", "sent", at=moment)
    o = outbox_table.c
    day = grid.bucket(o.sent_at)
    with database.session() as session:
        placed = {at: index for at, index in session.execute(select(o.sent_at, day))}
    assert len(placed) == len(moments)
    assert placed == {moment: grid.index(moment) for moment in moments}


@time_machine.travel(NOW, tick=False)
def test_the_days_add_up_to_the_report(database: Database) -> None:
    shop(database)
    grid = DayGrid.between(SINCE, NOW, BERLIN)
    with database.session() as session:
        figures = daily_mail_figures(session, grid, SINCE)
        rows = {(row.workflow, row.step): row for row in build_report(session, SINCE, NOW)}
    win_back = figures["win-back"]
    add_credited_orders(win_back, grid, rows[("win-back", "(all)")].credited)
    sent_day = grid.days.index(date(2026, 11, 13))
    expected = {
        "sent": {sent_day: 4},  # a b e f; "old" was planned before the period
        "delivered": {sent_day: 3},  # b bounced
        "opened": {sent_day: 1},  # a opened at 22:00 Berlin time on the day of the send
        "clicked": {sent_day + 1: 1},
        "unsubscribed": {sent_day + 5: 1},  # e
        "conversions": {sent_day + 2: 1},  # a's order, a day after the click
        "revenue": {sent_day + 2: 10_000},
    }
    assert {name: _nonzero(win_back, name) for name in expected} == expected
    total = rows[("win-back", "(all)")]
    assert [win_back.total(name) for name in expected] == [
        total.sent, total.delivered, total.opened, total.clicked, total.unsubscribed,
        total.conversions, total.revenue_minor,
    ]  # fmt: skip
    welcome = figures["welcome"]
    assert _nonzero(welcome, "sent") == {sent_day: 1, sent_day + 3: 1}


@time_machine.travel(NOW, tick=False)
def test_one_workflow_only(database: Database) -> None:
    shop(database)
    grid = DayGrid.between(SINCE, NOW, BERLIN)
    with database.session() as session:
        figures = daily_mail_figures(session, grid, SINCE, workflow="welcome")
    assert list(figures) == ["welcome"]
    assert figures["welcome"].total("sent") == 2


@time_machine.travel(NOW, tick=False)
def test_orders_outside_the_grid_are_left_out() -> None:
    grid = DayGrid.between(SINCE, NOW, BERLIN)
    figures = DailyFigures(grid.days)
    add_credited_orders(figures, grid, [(SINCE - DAY, 500), (NOW, 700), (NOW + DAY, 900)])
    assert (figures.total("conversions"), figures.total("revenue")) == (1, 700)


def _nonzero(figures: DailyFigures, name: str) -> dict[int, int]:
    return {day: value for day, value in enumerate(figures.values[name]) if value}
