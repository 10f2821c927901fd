"""The Reports pages: `mailengine report` as tables and daily charts, with holdout lift.

/studio/reports: every workflow's totals and the shop's days together; /studio/reports/
{workflow}: its steps, its days and, when it holds customers out, the lift with its
confidence interval (`lift`). The period is the last 7, 30 or 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from mailengine.intervals import DEFAULT_CONFIDENCE
from mailengine.store.reporting import reported_workflows
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.charts import Chart, bar_chart, line_chart
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.page_input import (
    PERIODS,
    PageInputError,
    Period,
    attribution,
    period_of,
    problem_page,
)
from mailengine.studio.rendering import render_page
from mailengine.studio.report_view import ReportView, build_report_view, daily_charts

router = APIRouter(include_in_schema=False)
MARKETING = require_role("admin", "marketer")
LINES = ("engagement", "revenue")  # drawn as lines; the others as bars


@dataclass(frozen=True)
class ChartView:
    chart: Chart
    svg: Markup


@router.get("/studio/reports")
def reports_page(
    request: Request, user: Annotated[StudioUser, Depends(MARKETING)], period: str | None = None
) -> Response:
    context = studio_context(request)
    chosen, refused = _period(request, period, "/studio/reports")
    if refused is not None:
        return refused
    view = _view(context, chosen, None)
    numbers = _numbers(context)
    return render_page(
        request,
        "reports.html",
        view=view,
        period=chosen,
        periods=list(PERIODS),
        numbers=numbers,
        charts=_drawn(daily_charts("all", view.labels, view.combined(), numbers)),
        confidence=DEFAULT_CONFIDENCE,
    )


@router.get("/studio/reports/{workflow}")
def workflow_report_page(
    request: Request,
    workflow: str,
    user: Annotated[StudioUser, Depends(MARKETING)],
    period: str | None = None,
) -> Response:
    context = studio_context(request)
    chosen, refused = _period(request, period, f"/studio/reports/{workflow}")
    if refused is not None:
        return refused
    with context.database.session() as session:
        stored = set(reported_workflows(session))
    known = stored | set(context.checked_workflows().result.workflows)
    if workflow not in known:
        return problem_page(
            request,
            404,
            f"No workflow named {workflow}",
            f"Neither the store nor the workflows folder knows '{workflow}' "
            f"(known: {', '.join(sorted(known)) or 'none'}).",
            ("/studio/reports", "All reports"),
        )
    view = _view(context, chosen, workflow)
    report = view.workflows[0] if view.workflows else None
    numbers = _numbers(context)
    charts = (
        daily_charts("wf", view.labels, report.daily, numbers) if report and report.daily else []
    )
    return render_page(
        request,
        "report.html",
        name=workflow,
        loaded=context.checked_workflows().result.workflows.get(workflow),
        view=view,
        report=report,
        period=chosen,
        periods=list(PERIODS),
        numbers=numbers,
        charts=_drawn(charts),
        confidence=DEFAULT_CONFIDENCE,
    )


def _period(request: Request, text: str | None, back: str) -> tuple[Period, Response | None]:
    now = studio_context(request).clock.now()
    try:
        return period_of(text, now), None
    except PageInputError as error:
        page = problem_page(
            request, 400, "This period cannot be shown", str(error), (back, "Back to the report")
        )
        return period_of(None, now), page


def _view(context: StudioContext, period: Period, only: str | None) -> ReportView:
    workflows = context.checked_workflows().result.workflows
    with context.database.session() as session:
        return build_report_view(
            session, period.since, period.until, context.settings.zone, workflows, only=only,
            window=attribution(context),
        )  # fmt: skip


def _drawn(charts: list[Chart]) -> list[ChartView]:
    return [
        ChartView(chart, line_chart(chart) if chart.ident.endswith(LINES) else bar_chart(chart))
        for chart in charts
    ]


def _numbers(context: StudioContext) -> NumberFormat:
    return NumberFormat(context.settings.locale, context.settings.currency)
