"""An honest test of the models: fit on the orders before a day, score the period after it.

Calibration: orders on days before `until`, summarised as of the day before it (as the
paper's 39 weeks end on 1997-09-30 for a holdout from 1997-10-01). Holdout: the days from
`until` to `end`, both included. Only customers of the calibration period are scored.

- Orders per customer: the model's expected orders in the holdout against the order days
  each customer had in it; the mean absolute error, and the paper's Figure 4: customers
  grouped by their repeat orders in the calibration period (0, 1, ..., 7+), the mean actual
  against the mean predicted per group.
- Next order day: for customers who ordered in the holdout (and whom the model gives a
  date at all: it gives none to those it expects to wait more than 10 years), the predicted
  next order day
  (own rhythm from 3 order days, else the model) against their first holdout order day, next
  to a naive guess: the last order day plus the median gap between order days of the whole
  calibration period. Days early or late, as a mean and a median of the absolute error.
- Churn risk: the area under the ROC curve of churn risk for "no order in the holdout"
  (0.5 is a coin, 1.0 ranks every lost customer above every returning one), and beside it
  that of the fewest expected orders in the holdout. BG/NBD gives a customer without a
  repeat order P(active) = 1 (drop-out comes only after a repeat order), so where one-off
  buyers are many, as in CDNOW, churn risk ranks them as safest: the second figure shows
  what the model's own expectation does instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from mailengine.errors import PredictionError
from mailengine.predict.arrays import Bools, Floats, Ints
from mailengine.predict.bgnbd import expected_orders
from mailengine.predict.scoring import Models, fit_models, score
from mailengine.predict.summaries import Summaries, summarise

GROUPS = 8  # repeat orders 0..6, and 7 or more


@dataclass(frozen=True)
class CalibrationGroup:
    """One bar pair of the calibration chart: customers with this many repeat orders."""

    repeat_orders: int  # the last group holds this many or more
    customers: int
    mean_actual: float
    mean_predicted: float


@dataclass(frozen=True)
class NextOrderError:
    """Absolute error in days of a next-order-day prediction, over `customers` customers."""

    customers: int
    mean_days: float
    median_days: float


@dataclass(frozen=True)
class Backtest:
    until_day: int  # first holdout day (a `date.toordinal()` number)
    end_day: int  # last holdout day
    models: Models
    customers: int
    actual_orders: int
    predicted_orders: float
    mean_absolute_error: float
    groups: list[CalibrationGroup]
    next_order_model: NextOrderError
    next_order_naive: NextOrderError
    naive_gap_days: float
    churn_auc: float | None  # None when every customer, or none, ordered in the holdout
    expected_orders_auc: float | None  # the same, ranking by fewest expected orders

    @property
    def holdout_days(self) -> int:
        return self.end_day - self.until_day + 1


def backtest(
    customer: Ints, day: Ints, amount: ArrayLike, until_day: int, end_day: int
) -> Backtest:
    """Fit on orders before `until_day`, score `until_day`..`end_day` (see the module)."""
    if end_day < until_day:
        raise PredictionError("the holdout period ends before it starts: pick an earlier date")
    calibration_now = until_day - 1
    before = day <= calibration_now
    spend = np.asarray(amount, dtype=np.float64)
    summaries = summarise(customer[before], day[before], spend[before], calibration_now)
    if not len(summaries):
        raise PredictionError("no orders before the holdout period: pick a later date")
    models = fit_models(summaries)
    horizon = float(end_day - calibration_now)
    p = models.bgnbd.params
    predicted = expected_orders(p, horizon, summaries.frequency, summaries.recency, summaries.age)

    during = (day >= until_day) & (day <= end_day)
    actual, first_day = _holdout_orders(summaries, customer[during], day[during])
    scores = score(models, summaries, calibration_now)
    naive_gap = _shop_median_gap(summaries)
    returned = first_day >= 0
    naive_day = summaries.last_order_day + naive_gap
    # both guesses over the same customers: those who returned and have a model date
    compared = returned & np.isfinite(scores.predicted_next_order_day) & np.isfinite(naive_day)
    return Backtest(
        until_day=until_day,
        end_day=end_day,
        models=models,
        customers=len(summaries),
        actual_orders=int(actual.sum()),
        predicted_orders=float(predicted.sum()),
        mean_absolute_error=float(np.abs(predicted - actual).mean()),
        groups=_groups(summaries.frequency, actual, predicted),
        next_order_model=_error(scores.predicted_next_order_day, first_day, compared),
        next_order_naive=_error(naive_day, first_day, compared),
        naive_gap_days=naive_gap,
        churn_auc=auc(scores.churn_risk, ~returned),
        expected_orders_auc=auc(-predicted, ~returned),
    )


def _holdout_orders(summaries: Summaries, customer: Ints, day: Ints) -> tuple[Floats, Ints]:
    """Per summarised customer: order days in the holdout, and the first of them (-1: none)."""
    ids = summaries.customer
    where = np.searchsorted(ids, customer)
    known = (where < ids.size) & (ids[np.minimum(where, ids.size - 1)] == customer)
    where, day = where[known], day[known]
    pairs = np.unique(where * (2**31) + day)  # one per (customer, day)
    who, days = pairs // (2**31), pairs % (2**31)
    actual = np.bincount(who, minlength=ids.size).astype(np.float64)
    first = np.full(ids.size, -1, dtype=np.int64)
    starts = np.ones(who.size, dtype=bool)
    starts[1:] = who[1:] != who[:-1]
    first[who[starts]] = days[starts]  # sorted by (customer, day): the first is the earliest
    return actual, first


def _shop_median_gap(summaries: Summaries) -> float:
    """The median gap between order days over the calibration period, per repeat order:
    each customer's mean gap t_x / x, weighted by x."""
    repeat = summaries.frequency > 0
    if not repeat.any():
        return float("nan")
    gaps = summaries.recency[repeat] / summaries.frequency[repeat]
    weights = summaries.frequency[repeat]
    order = np.argsort(gaps)
    cumulative = np.cumsum(weights[order])
    middle = np.searchsorted(cumulative, cumulative[-1] / 2.0)
    return float(gaps[order][middle])


def _groups(frequency: Floats, actual: Floats, predicted: Floats) -> list[CalibrationGroup]:
    group = np.minimum(frequency, GROUPS - 1).astype(np.int64)
    found: list[CalibrationGroup] = []
    for number in range(GROUPS):
        members = group == number
        count = int(members.sum())
        if not count:
            found.append(CalibrationGroup(number, 0, float("nan"), float("nan")))
            continue
        found.append(
            CalibrationGroup(
                number, count, float(actual[members].mean()), float(predicted[members].mean())
            )
        )
    return found


def _error(predicted_day: Floats, actual_day: Ints, compared: Bools) -> NextOrderError:
    errors = np.abs(predicted_day[compared] - actual_day[compared])
    if not errors.size:
        return NextOrderError(0, float("nan"), float("nan"))
    return NextOrderError(int(errors.size), float(errors.mean()), float(np.median(errors)))


def auc(scores: Floats, positive: Bools) -> float | None:
    """Area under the ROC curve of `scores` for `positive` (Mann-Whitney, ties count half);
    None when one class is empty."""
    positives = int(positive.sum())
    negatives = int(positive.size - positives)
    if not positives or not negatives:
        return None
    ranks = rankdata(scores)
    total = float(ranks[positive].sum()) - positives * (positives + 1) / 2.0
    return total / (positives * negatives)
