"""Both models fitted on a shop's summaries, and every customer's figures from them.

Predicted value is expected orders in 365 days times expected spend per order, not
discounted: over one year a 10 % yearly rate would lower it by ~5 % for everyone alike,
which changes no ranking or segment, and "what this customer will spend in the next 12
months" is the figure a shop reads and can check against the till a year later.

The predicted next order day comes from the customer's own rhythm when they have ordered on
at least 3 days: the last order day plus the median gap between their order days (the median,
so that one long pause or one stock-up does not move it; it may lie in the past, which means
overdue). With fewer order days there is no rhythm to read, and the BG/NBD model gives the
median wait for the next order given the customer is still active (see
`bgnbd.median_wait_if_active`); whether they are still active is `p_active`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailengine.predict.arrays import Bools, Floats, Ints
from mailengine.predict.bgnbd import (
    BgNbdFit,
    expected_orders,
    fit_bgnbd,
    median_wait_if_active,
    p_alive,
)
from mailengine.predict.gamma_gamma import GammaGammaFit, expected_spend, fit_gamma_gamma
from mailengine.predict.summaries import Summaries

ORDERS_HORIZON_DAYS = 90.0
VALUE_HORIZON_DAYS = 365.0
# A model wait longer than this is no date at all (NaN): "not expected to order again".
LONGEST_WAIT_DAYS = 3650.0


@dataclass(frozen=True)
class Models:
    """The two fits of one shop, time in days and money in the shop's currency."""

    bgnbd: BgNbdFit
    gamma_gamma: GammaGammaFit


@dataclass(frozen=True)
class Scores:
    """Each customer's figures, aligned with `Summaries.customer`."""

    customer: Ints
    p_active: Floats
    churn_risk: Floats
    expected_orders_90d: Floats
    predicted_next_order_day: Floats  # a day number like the orders'; NaN: none expected
    next_order_from_rhythm: Bools
    expected_spend: Floats
    predicted_value_365d: Floats


def fit_models(summaries: Summaries) -> Models:
    """Fit BG/NBD on (x, t_x, T) of every customer and Gamma-Gamma on the repeat customers."""
    return Models(
        bgnbd=fit_bgnbd(summaries.frequency, summaries.recency, summaries.age),
        gamma_gamma=fit_gamma_gamma(summaries.frequency, summaries.mean_spend),
    )


def predicted_value(
    models: Models, summaries: Summaries, horizon: float = VALUE_HORIZON_DAYS
) -> Floats:
    """Expected orders in `horizon` days times expected spend per order, undiscounted."""
    s = summaries
    orders = expected_orders(models.bgnbd.params, horizon, s.frequency, s.recency, s.age)
    result: Floats = orders * expected_spend(models.gamma_gamma, s.frequency, s.mean_spend)
    return result


def next_order_day(models: Models, summaries: Summaries, now: int) -> tuple[Floats, Bools]:
    """The predicted day of each customer's next order, and where it came from their rhythm."""
    s = summaries
    rhythm = np.isfinite(s.median_gap)
    wait = median_wait_if_active(models.bgnbd.params, s.frequency, s.age)
    model_day = np.where(wait <= LONGEST_WAIT_DAYS, float(now) + wait, np.nan)
    day: Floats = np.where(rhythm, s.last_order_day + s.median_gap, model_day)
    return day, rhythm


def score(models: Models, summaries: Summaries, now: int) -> Scores:
    """Every figure for every summarised customer, as of day `now` (the summaries' `now`)."""
    s = summaries
    params = models.bgnbd.params
    active = p_alive(params, s.frequency, s.recency, s.age)
    day, rhythm = next_order_day(models, s, now)
    return Scores(
        customer=s.customer,
        p_active=active,
        churn_risk=1.0 - active,
        expected_orders_90d=expected_orders(
            params, ORDERS_HORIZON_DAYS, s.frequency, s.recency, s.age
        ),
        predicted_next_order_day=day,
        next_order_from_rhythm=rhythm,
        expected_spend=expected_spend(models.gamma_gamma, s.frequency, s.mean_spend),
        predicted_value_365d=predicted_value(models, s),
    )
