"""What the reports pages show: `mailengine report`'s rows, daily series, and holdout lift.

Rows come from `store.reporting.build_report` (the CLI's report, the same attribution); the
days from `store.report_series`, which add up to those rows; the intervals from `lift`.
Charts are built here as plain `Chart` data and drawn by `charts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.intervals import Interval, rate_difference, relative_lift
from mailengine.store.report_series import (
    DailyFigures,
    DayGrid,
    add_credited_orders,
    daily_mail_figures,
)
from mailengine.store.reporting import ALL_STEPS, DEFAULT_WINDOW, ReportRow, build_report
from mailengine.studio.charts import Chart, Series
from mailengine.studio.number_format import NumberFormat
from mailengine.workflows.model import SendStep, Workflow

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"


@dataclass(frozen=True)
class Lift:
    """The mailed and the held-out customers of one step (or workflow), and the intervals."""

    mailed: tuple[int, int]  # (converted, members)
    held_out: tuple[int, int]
    difference: Interval  # conversion rate, mailed minus held out
    relative: Interval | None  # mailed / held out - 1; None without a held-out conversion


@dataclass(frozen=True)
class StepReport:
    label: str  # "Send 2 · step 3 · welcome/our-favourites", or "All steps"
    row: ReportRow
    lift: Lift | None

    @property
    def total(self) -> bool:
        return self.row.step == ALL_STEPS


@dataclass
class WorkflowReport:
    name: str
    steps: list[StepReport] = field(default_factory=list)
    daily: DailyFigures | None = None

    @property
    def total(self) -> StepReport:
        return next(step for step in self.steps if step.total)


@dataclass(frozen=True)
class ReportView:
    since: datetime
    until: datetime
    window: timedelta
    days: tuple[date, ...]  # the shop's local days of the period
    workflows: list[WorkflowReport]

    @property
    def labels(self) -> tuple[str, ...]:
        """The days as charts label them: Nov 3."""
        return tuple(f"{day:%b %-d}" for day in self.days)

    def combined(self) -> DailyFigures:
        """Every workflow's days added together."""
        total = DailyFigures(self.days)
        for report in self.workflows:
            if report.daily is None:
                continue
            for name, values in report.daily.values.items():
                for index, value in enumerate(values):
                    total.add(name, index, value)
        return total


def build_report_view(
    session: Session,
    since: datetime,
    now: datetime,
    zone: ZoneInfo,
    workflows: Mapping[str, Workflow],
    *,
    only: str | None = None,
    window: timedelta = DEFAULT_WINDOW,
) -> ReportView:
    """The report since `since` (every workflow, or `only`), with one series per day."""
    rows = build_report(session, since, now, workflow=only, window=window)
    grid = DayGrid.between(since, now, zone)
    daily = daily_mail_figures(session, grid, since, workflow=only)
    reports: dict[str, WorkflowReport] = {}
    for row in rows:
        report = reports.setdefault(row.workflow, WorkflowReport(row.workflow))
        report.steps.append(
            StepReport(step_label(row, workflows.get(row.workflow)), row, holdout_lift(row))
        )
    for name, report in reports.items():
        report.daily = daily.get(name, DailyFigures(grid.days))
        add_credited_orders(report.daily, grid, report.total.row.credited)
    return ReportView(since, now, window, grid.days, list(reports.values()))


def step_label(row: ReportRow, workflow: Workflow | None) -> str:
    if row.step == ALL_STEPS:
        return "All steps"
    if workflow is None:
        return f"step {row.step}"
    sends = workflow.sends()
    for number, step in enumerate(sends, 1):
        if step.id == row.step and isinstance(step, SendStep):
            return f"Send {number} · step {step.id} · {step.template}"
    return f"step {row.step} (not in the current version)"


def holdout_lift(row: ReportRow) -> Lift | None:
    """Intervals for a row with members in both groups; None when there is no holdout."""
    mailed = (row.mailed.converted, row.mailed.members)
    held = (row.holdout.converted, row.holdout.members)
    if not mailed[1] or not held[1]:
        return None
    return Lift(mailed, held, rate_difference(mailed, held), relative_lift(mailed, held))


def daily_charts(
    ident: str, days: tuple[str, ...], daily: DailyFigures, numbers: NumberFormat
) -> list[Chart]:
    """Sends and deliveries, engagement, conversions, revenue: one chart each."""
    values = daily.values

    def series(*names: str) -> list[Series]:
        return [Series(name, values[name]) for name in names]

    return [
        Chart(f"{ident}-sends", "Sends and deliveries per day", days, series("sent", "delivered")),
        Chart(
            f"{ident}-engagement",
            "Opens, clicks and unsubscribes per day",
            days,
            series("opened", "clicked", "unsubscribed"),
        ),
        Chart(f"{ident}-conversions", "Conversions per day", days, series("conversions")),
        Chart(
            f"{ident}-revenue",
            "Revenue per day",
            days,
            series("revenue"),
            value_format=numbers.money,
            axis_format=numbers.money_axis,
            integers=False,
            colors=("#047857",),
        ),
    ]
