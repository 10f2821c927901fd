"""The back-test of the prediction models on the shop's own orders, and where its result is kept.

`run_backtest` reads every counted order (as the nightly job does), fits on those before
`until` and scores the days from `until` to `end` (`predict.backtest`). The result is stored
as the shop figure `prediction_backtest` (plain JSON, see `backtest_json`), which the studio's
Predictions page charts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailengine.engine.prediction_job import bgnbd_json, gamma_gamma_json, order_days
from mailengine.predict.backtest import Backtest, CalibrationGroup, NextOrderError, backtest
from mailengine.store.database import Database
from mailengine.store.prediction_inputs import read_orders
from mailengine.store.predictions import write_shop_figure

PREDICTION_BACKTEST = "prediction_backtest"


def run_backtest(
    database: Database, zone: ZoneInfo, until: date, end: date, now: datetime
) -> Backtest:
    """Fit on the orders before `until`, score `until`..`end` (days in the shop's zone), and
    store the result for the studio."""
    with database.session() as session:
        orders = read_orders(session)
    days = order_days(orders, zone)
    found = backtest(orders.customer, days, orders.amount_minor, until.toordinal(), end.toordinal())
    with database.transaction() as session:
        write_shop_figure(session, PREDICTION_BACKTEST, backtest_json(found, now), now)
    return found


def _number(value: float | None, digits: int) -> float | None:
    if value is None or value != value:
        return None
    return round(value, digits)


def _group_json(group: CalibrationGroup) -> dict[str, Any]:
    return {
        "repeat_orders": group.repeat_orders,
        "customers": group.customers,
        "mean_actual": _number(group.mean_actual, 4),
        "mean_predicted": _number(group.mean_predicted, 4),
    }


def _error_json(error: NextOrderError) -> dict[str, Any]:
    return {
        "customers": error.customers,
        "mean_days": _number(error.mean_days, 1),
        "median_days": _number(error.median_days, 1),
    }


def backtest_json(found: Backtest, at: datetime) -> dict[str, Any]:
    """The back-test as plain JSON: what the CLI prints with --json and the studio reads."""
    return {
        "at": at.isoformat(),
        "until": date.fromordinal(found.until_day).isoformat(),
        "end": date.fromordinal(found.end_day).isoformat(),
        "holdout_days": found.holdout_days,
        "customers": found.customers,
        "actual_orders": found.actual_orders,
        "predicted_orders": round(found.predicted_orders, 1),
        "mean_absolute_error": round(found.mean_absolute_error, 4),
        "calibration": [_group_json(group) for group in found.groups],
        "next_order": {
            "model": _error_json(found.next_order_model),
            "naive": _error_json(found.next_order_naive),
            "naive_gap_days": _number(found.naive_gap_days, 1),
        },
        "churn_auc": _number(found.churn_auc, 4),
        "expected_orders_auc": _number(found.expected_orders_auc, 4),
        "bgnbd": bgnbd_json(found.models),
        "gamma_gamma": gamma_gamma_json(found.models),
    }
