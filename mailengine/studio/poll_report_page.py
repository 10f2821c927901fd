"""The Polls page: a poll's Net Promoter Score over time and per product category, the
figures of `mailengine polls report` as tables and SVG charts (/studio/polls?poll=NAME).

NPS runs from −100 to 100; the charts draw its two parts, the share of promoters (9-10) and
of detractors (0-6), which the charts' axes (from 0) can show.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.polls.loader import load_polls
from mailengine.polls.nps import NpsFigure, Period
from mailengine.store.polls import poll_report
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.charts import Chart, Series, bar_chart, line_chart
from mailengine.studio.context import studio_context
from mailengine.studio.page_input import problem_page
from mailengine.studio.rendering import render_page
from mailengine.studio.report_pages import ChartView

router = APIRouter(include_in_schema=False)
MARKETING = require_role("admin", "marketer")
SPANS: dict[str, tuple[int, Period]] = {  # key -> (days back, one row per)
    "12w": (84, "week"),
    "12m": (365, "month"),
    "24m": (730, "month"),
}


def _percent(value: float) -> str:
    return f"{value:.0f} %"


def _shares(figures: tuple[NpsFigure, ...]) -> tuple[list[float], list[float]]:
    promoters = [100 * f.promoters / f.answers if f.answers else 0.0 for f in figures]
    detractors = [100 * f.detractors / f.answers if f.answers else 0.0 for f in figures]
    return promoters, detractors


def _shares_chart(ident: str, title: str, figures: tuple[NpsFigure, ...]) -> Chart:
    promoters, detractors = _shares(figures)
    return Chart(
        ident,
        title,
        [f.label for f in figures],
        [Series("Promoters (9-10)", promoters), Series("Detractors (0-6)", detractors)],
        value_format=_percent,
        colors=("#059669", "#dc2626"),
    )


def _charts(periods: tuple[NpsFigure, ...], categories: tuple[NpsFigure, ...]) -> list[ChartView]:
    title = "Promoters and detractors over time (NPS = the gap)"
    over_time = _shares_chart("nps-time", title, periods)
    views = [ChartView(over_time, line_chart(over_time))]
    if categories:
        title = "Promoters and detractors per product category"
        by_category = _shares_chart("nps-category", title, categories)
        views.append(ChartView(by_category, bar_chart(by_category)))
    return views


@router.get("/studio/polls")
def polls_page(
    request: Request,
    user: Annotated[StudioUser, Depends(MARKETING)],
    poll: str | None = None,
    span: str = "12m",
) -> Response:
    context = studio_context(request)
    settings = context.settings
    known = load_polls([settings.paths.polls]).polls
    name = poll or next(iter(sorted(known)), None)
    if span not in SPANS or (name is not None and name not in known):
        wrong = f"the span '{span}'" if span not in SPANS else f"a poll named '{name}'"
        return problem_page(
            request, 404, "No such report",
            f"There is no {wrong} (polls: {', '.join(sorted(known)) or 'none'}).",
            ("/studio/polls", "All polls"),
        )  # fmt: skip
    report = None
    if name is not None:
        days, period = SPANS[span]
        until = context.clock.now()
        with context.database.session() as session:
            report = poll_report(
                session, name, until - timedelta(days=days), until, period, settings.zone
            )
    return render_page(
        request,
        "polls.html",
        polls=sorted(known),
        chosen=name,
        question=known[name].question.text if name else "",
        span=span,
        spans=list(SPANS),
        report=report,
        charts=_charts(report.periods, report.categories) if report else [],
    )
