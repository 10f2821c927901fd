"""The Predictions page: the last prediction run, its churn risk spread, and the back-test.

/studio/predictions shows what the nightly job (or `mailengine predict`) stored last: counts,
fitted parameters and the customers by churn risk; and the last back-test (run here on
request, or by `mailengine predict --backtest`): predicted against actual orders per group
of repeat orders (the calibration chart of Fader, Hardie & Lee's Figure 4), the next-order
error against a naive guess, and the AUC of churn risk.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailengine.engine.prediction_backtest import PREDICTION_BACKTEST, run_backtest
from mailengine.engine.prediction_job import CHURN_BINS, PREDICTION_RUN
from mailengine.errors import PredictionError
from mailengine.store.predictions import shop_figure
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.charts import Chart, Series, bar_chart
from mailengine.studio.context import studio_context
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.page_input import problem_page
from mailengine.studio.rendering import render_page
from mailengine.studio.report_pages import ChartView

router = APIRouter(include_in_schema=False)
MARKETING = require_role("admin", "marketer")
PAGE = "/studio/predictions"
DEFAULT_HOLDOUT = timedelta(days=180)


def _drawn(chart: Chart) -> ChartView:
    return ChartView(chart, bar_chart(chart))


def churn_chart(run: dict[str, Any]) -> ChartView:
    step = 100 // CHURN_BINS
    labels = [f"{low}–{low + step} %" for low in range(0, 100, step)]
    counts = [float(count) for count in run["churn_histogram"]]
    return _drawn(Chart("churn", "Customers by churn risk", labels, [Series("Customers", counts)]))


def calibration_chart(result: dict[str, Any]) -> ChartView:
    groups = result["calibration"]
    labels = [f"{g['repeat_orders']}{'+' if g['repeat_orders'] >= 7 else ''}" for g in groups]

    def series(name: str, key: str) -> Series:
        return Series(name, [g[key] if g[key] is not None else 0.0 for g in groups])

    chart = Chart(
        "calibration",
        "Mean orders in the holdout, by repeat orders before it",
        labels,
        [series("Actual", "mean_actual"), series("Predicted", "mean_predicted")],
        value_format=lambda value: f"{value:.2f}",
        integers=False,
    )
    return _drawn(chart)


@router.get(PAGE)
def predictions_page(request: Request, user: Annotated[StudioUser, Depends(MARKETING)]) -> Response:
    context = studio_context(request)
    with context.database.session() as session:
        run = shop_figure(session, PREDICTION_RUN)
        backtest = shop_figure(session, PREDICTION_BACKTEST)
    today = context.clock.now().astimezone(context.settings.zone).date()
    settings = context.settings
    return render_page(
        request,
        "predictions.html",
        run=run,
        backtest=backtest,
        churn=churn_chart(run) if run and run.get("mean_churn_risk") is not None else None,
        calibration=calibration_chart(backtest) if backtest else None,
        numbers=NumberFormat(settings.locale, settings.currency),
        default_until=(today - DEFAULT_HOLDOUT).isoformat(),
        today=today.isoformat(),
    )


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PredictionError(f"{field}: '{text[:40]}' is not a date like 2026-06-30") from None


@router.post(PAGE + "/backtest")
def run_backtest_now(
    request: Request,
    user: Annotated[StudioUser, Depends(MARKETING)],
    until: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
) -> Response:
    """Back-test now, as `mailengine predict --backtest --until UNTIL --to TO`."""
    context = studio_context(request)
    now = context.clock.now()
    today = now.astimezone(context.settings.zone).date()
    try:
        first = _day(until, "until")
        last = _day(to, "to") if to.strip() else today
        run_backtest(context.database, context.settings.zone, first, last, now)
    except PredictionError as error:
        return problem_page(
            request, 400, "The back-test could not run", str(error), (PAGE, "Back to predictions")
        )
    return RedirectResponse(PAGE + "#backtest", 303)
