"""Every customer's figures from both models, on simulated shops whose true parameters we know."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mailengine.errors import PredictionError
from mailengine.predict import (
    BgNbdParams,
    GammaGammaParams,
    Models,
    Summaries,
    expected_orders,
    expected_spend,
    fit_gamma_gamma,
    fit_models,
    median_wait_if_active,
    p_alive,
    score,
    summarise,
)
from mailengine.predict.gamma_gamma import GammaGammaFit
from mailengine.predict.scoring import LONGEST_WAIT_DAYS
from mailengine.predict.simulate import simulate_orders
from tests.conftest import NOW

TODAY = NOW.date().toordinal()
# A shop in days: an order every ~75 days while active, ~12 % drop out after each order.
TRUE_BGNBD = BgNbdParams(r=0.55, alpha=40.0, a=0.8, b=6.0)
TRUE_SPEND = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)


def _shop(customers: int, seed: int, ticks_per_day: int = 1) -> tuple[Models, Summaries]:
    """A simulated shop's fits; with `ticks_per_day` > 1, time counted in finer ticks."""
    true = BgNbdParams(TRUE_BGNBD.r, TRUE_BGNBD.alpha * ticks_per_day, TRUE_BGNBD.a, TRUE_BGNBD.b)
    now = TODAY * ticks_per_day
    orders = simulate_orders(
        customers, true, TRUE_SPEND, now=now, span_days=1095 * ticks_per_day, seed=seed
    )
    summaries = summarise(orders.customer, orders.day, orders.amount, now)
    return fit_models(summaries), summaries


def _close(got: object, want: object, names: tuple[str, ...], rel: float) -> None:
    for name in names:
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=rel), name


def test_the_fits_recover_a_simulated_shops_parameters() -> None:
    models, _ = _shop(50_000, seed=11)
    assert models.bgnbd.converged
    assert models.gamma_gamma.converged
    _close(models.bgnbd.params, TRUE_BGNBD, ("r", "alpha", "a", "b"), rel=0.1)
    _close(models.gamma_gamma.params, TRUE_SPEND, ("p", "q", "gamma"), rel=0.1)


@pytest.mark.slow
def test_a_million_customers_converge_to_the_true_parameters() -> None:
    # Counted in hours: whole days merge a fast buyer's orders on one day and shift α by ~4 %
    # (the model's time is continuous); hours leave the estimator itself to be checked.
    models, summaries = _shop(1_000_000, seed=12, ticks_per_day=24)
    assert len(summaries) == 1_000_000
    assert models.bgnbd.converged
    assert models.gamma_gamma.converged
    params = models.bgnbd.params
    _close(params, TRUE_BGNBD, ("r", "a", "b"), rel=0.02)
    assert params.alpha / 24 == pytest.approx(TRUE_BGNBD.alpha, rel=0.02)
    _close(models.gamma_gamma.params, TRUE_SPEND, ("p", "q", "gamma"), rel=0.02)


def test_scores_hold_together() -> None:
    models, summaries = _shop(5_000, seed=13)
    s = summaries
    scores = score(models, s, TODAY)
    params = models.bgnbd.params
    x, t_x, T = s.frequency, s.recency, s.age
    assert np.array_equal(scores.customer, s.customer)
    assert np.allclose(scores.p_active, p_alive(params, x, t_x, T))
    assert np.allclose(scores.churn_risk, 1.0 - scores.p_active)
    assert np.allclose(scores.expected_orders_90d, expected_orders(params, 90.0, x, t_x, T))
    spend = expected_spend(models.gamma_gamma, x, s.mean_spend)
    assert np.allclose(scores.expected_spend, spend)
    value = expected_orders(params, 365.0, x, t_x, T) * spend
    assert np.allclose(scores.predicted_value_365d, value)
    assert np.all(np.isfinite(scores.predicted_value_365d))


def test_the_next_order_comes_from_the_rhythm_with_three_order_days() -> None:
    # Customer 1 orders every ~30 days (gaps 28, 30, 35); customer 2 has two order days.
    days = [TODAY - 93, TODAY - 65, TODAY - 35, TODAY, TODAY - 20, TODAY - 5]
    s = summarise([1, 1, 1, 1, 2, 2], days, [20.0] * 6, now=TODAY)
    models, _ = _shop(2_000, seed=14)
    scores = score(models, s, TODAY)
    assert scores.next_order_from_rhythm.tolist() == [True, False]
    assert scores.predicted_next_order_day[0] == TODAY + 30
    wait = median_wait_if_active(models.bgnbd.params, [1.0], [20.0])[0]
    assert scores.predicted_next_order_day[1] == pytest.approx(TODAY + wait)


def test_an_overdue_rhythm_gives_a_day_in_the_past() -> None:
    s = summarise([1, 1, 1], [TODAY - 200, TODAY - 190, TODAY - 180], [9.0] * 3, now=TODAY)
    models, _ = _shop(2_000, seed=15)
    assert score(models, s, TODAY).predicted_next_order_day[0] == TODAY - 170


def test_no_model_date_further_than_ten_years() -> None:
    models, _ = _shop(2_000, seed=16)
    slow = Models(
        bgnbd=type(models.bgnbd)(
            params=BgNbdParams(r=0.01, alpha=40.0, a=0.8, b=6.0),
            log_likelihood=0.0,
            customers=1,
            converged=True,
            iterations=0,
        ),
        gamma_gamma=models.gamma_gamma,
    )
    s = summarise([1], [TODAY - 3], [9.0], now=TODAY)
    wait = median_wait_if_active(slow.bgnbd.params, [0.0], [3.0])[0]
    assert wait > LONGEST_WAIT_DAYS
    assert math.isnan(score(slow, s, TODAY).predicted_next_order_day[0])


def _spend_fit(p: float, q: float, gamma: float, sample_mean: float = 30.0) -> GammaGammaFit:
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, gamma=gamma),
        log_likelihood=0.0,
        customers=1,
        converged=True,
        iterations=0,
        frequency_spend_correlation=0.0,
        sample_mean_spend=sample_mean,
    )


def test_expected_spend_weighs_the_customers_own_mean_against_everyones() -> None:
    fit = _spend_fit(6.25, 3.74, 15.44)
    population = 6.25 * 15.44 / (3.74 - 1.0)
    got = expected_spend(fit, [0.0, 1.0, 10.0], [math.nan, 50.0, 50.0])
    assert got[0] == pytest.approx(population)
    assert got[1] == pytest.approx((15.44 + 50.0) * 6.25 / (6.25 + 3.74 - 1.0))
    # More repeat orders: closer to their own 50.
    assert population < got[1] < got[2] < 50.0


def test_expected_spend_without_a_finite_population_mean() -> None:
    fit = _spend_fit(2.0, 0.8, 10.0, sample_mean=33.0)
    assert math.isinf(fit.params.mean_spend)
    assert expected_spend(fit, [0.0], [math.nan])[0] == 33.0


def test_gamma_gamma_needs_a_repeat_order_with_money() -> None:
    with pytest.raises(PredictionError, match="Gamma-Gamma"):
        fit_gamma_gamma([0.0, 2.0], [math.nan, 0.0])
