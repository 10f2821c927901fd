"""The reports pages' data: the CLI's rows, labelled steps, daily charts and holdout lift."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailengine.intervals import rate_difference
from mailengine.store.database import Database
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.report_view import build_report_view, daily_charts
from mailengine.workflows.loader import load_workflows
from tests.conftest import NOW
from tests.web.test_report import shop

REPO = Path(__file__).resolve().parents[2]
SINCE = NOW - timedelta(days=30)
BERLIN = ZoneInfo("Europe/Berlin")


@time_machine.travel(NOW, tick=False)
def test_rows_labels_lift_and_days(database: Database) -> None:
    shop(database)
    workflows = load_workflows([REPO / "workflows"]).workflows
    with database.session() as session:
        view = build_report_view(session, SINCE, NOW, BERLIN, workflows)
    assert [report.name for report in view.workflows] == ["welcome", "win-back"]
    win_back = view.workflows[1]
    assert [step.label for step in win_back.steps] == [
        "Send 1 · step 1 · win-back/we-miss-you",
        "All steps",
    ]
    lift = win_back.steps[0].lift
    assert lift is not None
    assert (lift.mailed, lift.held_out) == ((2, 4), (1, 4))  # a and f; h1 of four held out
    assert lift.difference == rate_difference((2, 4), (1, 4))
    assert lift.relative is not None and lift.relative.estimate == pytest.approx(1.0)
    assert view.workflows[0].steps[0].lift is None  # welcome holds nobody out
    assert len(view.days) == len(view.labels) == 31 and view.labels[0] == "Oct 24"
    daily = win_back.daily
    assert daily is not None
    assert (daily.total("sent"), daily.total("conversions"), daily.total("revenue")) == (
        4, 1, 10_000,
    )  # fmt: skip
    combined = view.combined()
    assert combined.total("sent") == 6  # four win-back, two welcome


@time_machine.travel(NOW, tick=False)
def test_one_workflow_and_its_charts(database: Database) -> None:
    shop(database)
    with database.session() as session:
        view = build_report_view(session, SINCE, NOW, BERLIN, {}, only="welcome")
    assert [report.name for report in view.workflows] == ["welcome"]
    assert view.workflows[0].steps[0].label == "step 1"  # no such workflow file here
    daily = view.workflows[0].daily
    assert daily is not None
    charts = daily_charts("welcome", view.labels, daily, NumberFormat("en_US", "EUR"))
    assert [chart.title for chart in charts] == [
        "Sends and deliveries per day",
        "Opens, clicks and unsubscribes per day",
        "Conversions per day",
        "Revenue per day",
    ]
    assert [[s.name for s in chart.series] for chart in charts] == [
        ["sent", "delivered"], ["opened", "clicked", "unsubscribed"], ["conversions"],
        ["revenue"],
    ]  # fmt: skip
    revenue = charts[3]
    assert sum(revenue.series[0].values) == 7_000  # g's and f's orders, credited to welcome
    assert revenue.rows()[-2][1] == ["€0.00"] and "€50.00" in str(revenue.rows())
