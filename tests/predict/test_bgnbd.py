"""BG/NBD on awkward inputs: edge cases, units, a = 1, and values the closed forms must give."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mailengine.errors import PredictionError
from mailengine.predict import (
    BgNbdParams,
    expected_orders,
    fit_bgnbd,
    median_wait_if_active,
    p_alive,
)
from tests.predict.conftest import Weeks

CDNOW_FIT = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_no_repeat_orders_cannot_be_fitted() -> None:
    with pytest.raises(PredictionError, match="no customer has a repeat order"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [10, 20, 30])


def test_no_customers_cannot_be_fitted() -> None:
    with pytest.raises(PredictionError, match="no customers"):
        fit_bgnbd([], [], [])


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([1, 2], [1], [2], "differ in length"),
        ([1], [5], [4], "recency ≤ age"),
        ([-1], [0], [4], "0 ≤ frequency"),
        ([1], [float("nan")], [4], "finite"),
    ],
)
def test_bad_summaries_are_refused(
    frequency: list[float], recency: list[float], age: list[float], message: str
) -> None:
    with pytest.raises(PredictionError, match=message):
        fit_bgnbd(frequency, recency, age)
    with pytest.raises(PredictionError, match=message):
        p_alive(CDNOW_FIT, frequency, recency, age)


def _sensible(params: BgNbdParams, x: list[float], t_x: list[float], T: list[float]) -> None:
    for value in (params.r, params.alpha, params.a, params.b):
        assert math.isfinite(value)
        assert value > 0
    alive = p_alive(params, x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1))
    orders = expected_orders(params, 90.0, x, t_x, T)
    assert np.all(np.isfinite(orders))
    assert np.all(orders >= 0)


def test_one_customer_gives_finite_parameters_and_predictions() -> None:
    fit = fit_bgnbd([3], [20], [30])
    _sensible(fit.params, [3], [20], [30])


def test_identical_customers_give_finite_parameters_and_equal_predictions() -> None:
    x, t_x, T = [2.0] * 500, [40.0] * 500, [100.0] * 500
    fit = fit_bgnbd(x, t_x, T)
    _sensible(fit.params, x, t_x, T)
    orders = expected_orders(fit.params, 90.0, x, t_x, T)
    assert np.ptp(orders) == 0.0


def test_identical_one_time_buyers_beside_one_repeat_customer() -> None:
    x, t_x, T = [0.0] * 999 + [1.0], [0.0] * 999 + [5.0], [60.0] * 1000
    fit = fit_bgnbd(x, t_x, T)
    _sensible(fit.params, x, t_x, T)


def test_the_time_unit_changes_only_alpha(calibration: Weeks) -> None:
    weeks = fit_bgnbd(calibration.frequency, calibration.recency, calibration.age).params
    days = fit_bgnbd(calibration.frequency, calibration.days.recency, calibration.days.age).params
    assert days.r == pytest.approx(weeks.r, rel=1e-4)
    assert days.a == pytest.approx(weeks.a, rel=1e-4)
    assert days.b == pytest.approx(weeks.b, rel=1e-4)
    assert days.alpha == pytest.approx(7.0 * weeks.alpha, rel=1e-4)


def test_one_time_buyers_are_active_by_the_models_definition() -> None:
    assert p_alive(CDNOW_FIT, [0.0, 0.0], [0.0, 0.0], [1.0, 300.0]).tolist() == [1.0, 1.0]


def test_a_long_silence_after_many_orders_means_likely_gone() -> None:
    recent, silent = p_alive(CDNOW_FIT, [10.0, 10.0], [38.0, 5.0], [39.0, 39.0])
    assert recent > 0.9
    assert silent < 0.05


def test_expected_orders_start_at_zero_and_grow_with_the_horizon() -> None:
    horizons = np.array([0.0, 1.0, 13.0, 52.0, 520.0])
    orders = expected_orders(CDNOW_FIT, horizons, [3.0] * 5, [20.0] * 5, [30.0] * 5)
    assert orders[0] == 0.0
    assert np.all(np.diff(orders) > 0)


def test_expected_orders_match_the_unconditional_form_for_a_customer_just_arrived() -> None:
    # With x = 0 and T = 0 the conditional expectation is the paper's E[X(t)]:
    # (a+b−1)/(a−1) · [1 − (α/(α+t))^r · 2F1(r, b; a+b−1; t/(α+t))].
    from scipy.special import hyp2f1

    r, alpha, a, b = CDNOW_FIT.r, CDNOW_FIT.alpha, CDNOW_FIT.a, CDNOW_FIT.b
    t = 39.0
    closed = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    assert expected_orders(CDNOW_FIT, t, [0.0], [0.0], [0.0])[0] == pytest.approx(closed)


def test_expected_orders_are_continuous_across_a_equal_to_one() -> None:
    def at(a: float) -> float:
        params = BgNbdParams(r=0.5, alpha=10.0, a=a, b=3.0)
        return float(expected_orders(params, 52.0, [4.0], [30.0], [40.0])[0])

    below, exactly, above = at(0.98), at(1.0), at(1.02)
    assert math.isfinite(exactly)
    assert below > exactly > above or below < exactly < above
    assert exactly == pytest.approx((below + above) / 2, rel=1e-3)


def test_expected_orders_stay_accurate_for_very_frequent_customers() -> None:
    # 1,000 orders in a year, the last one yesterday: about λ ≈ 1000/365 a day for 90 days,
    # less the chance of dropping out after any of the next ~250 orders.
    params = BgNbdParams(r=0.5, alpha=40.0, a=0.8, b=6.0)
    orders = expected_orders(params, 90.0, [1000.0], [364.0], [365.0])[0]
    assert 150.0 < orders < 1000.0 * 90.0 / 365.0


def test_the_median_wait_if_active_halves_the_chance_of_no_order() -> None:
    params = CDNOW_FIT
    x, T = 2.0, 38.86
    wait = median_wait_if_active(params, [x], [T])[0]
    no_order = ((params.alpha + T) / (params.alpha + T + wait)) ** (params.r + x)
    assert no_order == pytest.approx(0.5)


# E[orders in t | active] computed with mpmath at 40 digits as r' ∫_0^s 2F1(r'+1, a; a+b'; −u) du
# (r' = r + x, b' = b + x, s = t/(α+T)): where scipy's hyp2f1 fails, and the worked example.
MPMATH_REFERENCES = [
    # r, α, a, b, x, t_x, T, t, E[orders | active]
    (0.5, 40.0, 0.5, 0.5, 0.0, 0.0, 0.0, 90.0, 0.70135007233822422),  # a + b + x − 1 = 0
    (10.0, 1.0, 100.0, 100.0, 0.0, 0.0, 0.0, 90.0, 2.01010101010101),  # z near 1, large a, b
    (100.0, 1.0, 30.0, 100.0, 10.0, 20.0, 30.0, 365.0, 4.7931034482758621),
    (0.243, 4.414, 0.793, 2.426, 2.0, 30.43, 38.86, 39.0, 1.6873993058053129),
]


@pytest.mark.parametrize(
    ("r", "alpha", "a", "b", "x", "t_x", "T", "t", "reference"), MPMATH_REFERENCES
)
def test_expected_orders_match_high_precision_references(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: float,
    t_x: float,
    T: float,
    t: float,
    reference: float,
) -> None:
    params = BgNbdParams(r=r, alpha=alpha, a=a, b=b)
    orders = expected_orders(params, t, [x], [t_x], [T])[0]
    alive = p_alive(params, [x], [t_x], [T])[0]
    assert orders / alive == pytest.approx(reference, rel=1e-8)
