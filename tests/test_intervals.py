"""Intervals for rates and means checked against published and hand-computed figures."""

from __future__ import annotations

import math
import statistics

import pytest
import time_machine

from mailengine.intervals import (
    mean_difference,
    mean_interval,
    rate_difference,
    relative_lift,
    wilson,
    z_value,
)
from tests.conftest import NOW


@time_machine.travel(NOW, tick=False)
def test_wilson_matches_the_published_example() -> None:
    # Newcombe (1998), single proportion, 81/263: 0.2553 to 0.3662.
    interval = wilson(81, 263)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)


@time_machine.travel(NOW, tick=False)
def test_the_difference_matches_newcombes_example() -> None:
    # Newcombe (1998), Table II, 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    interval = rate_difference((56, 70), (48, 80))
    assert round(interval.estimate, 4) == 0.2
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0524, 0.3339)
    assert interval.excludes_zero


@time_machine.travel(NOW, tick=False)
def test_the_difference_by_hand_for_a_small_holdout() -> None:
    # 12 of 200 mailed ordered, 2 of 50 held out. z = 1.959964, z² = 3.841459.
    # Mailed, p = 0.06: centre = (0.06 + z²/400) / (1 + z²/200) = 0.069604 / 1.019207 = 0.068292,
    #   half = z / 1.019207 * sqrt(0.06·0.94/200 + z²/160000) = 1.923029 · 0.017493 = 0.033640,
    #   so 0.034652 to 0.101932.
    # Held out, p = 0.04: centre = (0.04 + z²/100) / 1.076829 = 0.072820,
    #   half = z / 1.076829 * sqrt(0.04·0.96/50 + z²/10000) = 1.820127 · 0.033943 = 0.061781,
    #   so 0.011039 to 0.134601.
    # Low = 0.02 - sqrt((0.06-0.034652)² + (0.134601-0.04)²) = 0.02 - 0.097938 = -0.077938
    # High = 0.02 + sqrt((0.101932-0.06)² + (0.04-0.011039)²) = 0.02 + 0.050961 = 0.070961
    interval = rate_difference((12, 200), (2, 50))
    assert interval.low == pytest.approx(-0.077938, abs=2e-6)
    assert interval.high == pytest.approx(0.070961, abs=2e-6)
    assert not interval.excludes_zero


@time_machine.travel(NOW, tick=False)
def test_the_relative_lift_by_hand() -> None:
    # 30/100 vs 20/100: ratio 1.5, se(log) = sqrt(1/30 - 1/100 + 1/20 - 1/100) = 0.251661,
    # exp(0.405465 ± 1.959964 · 0.251661) = exp(-0.087782) to exp(0.898712)
    # = 0.915961 to 2.456437: a lift of -8.4 % to +145.6 %.
    interval = relative_lift((30, 100), (20, 100))
    assert interval is not None
    assert interval.estimate == pytest.approx(0.5)
    assert interval.low == pytest.approx(0.915961 - 1, abs=2e-6)
    assert interval.high == pytest.approx(2.456437 - 1, abs=2e-6)


@time_machine.travel(NOW, tick=False)
def test_edges() -> None:
    assert relative_lift((3, 10), (0, 10)) is None  # no held-out conversion: no ratio
    everyone = rate_difference((5, 5), (0, 5))
    assert everyone.high == 1.0 and 0 < everyone.low < 1
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0
    assert math.isclose(z_value(0.95), 1.959964, abs_tol=1e-6)
    with pytest.raises(ValueError, match="3/2"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        z_value(1.0)


@time_machine.travel(NOW, tick=False)
def test_a_mean_from_its_sums_matches_the_one_from_the_amounts() -> None:
    amounts = [0.0, 0.0, 10.0, 20.0, 0.0, 45.5]
    interval = mean_interval(len(amounts), sum(amounts), sum(a * a for a in amounts))
    half = 1.959964 * statistics.stdev(amounts) / math.sqrt(len(amounts))
    assert interval.estimate == pytest.approx(statistics.fmean(amounts))
    assert interval.low == pytest.approx(statistics.fmean(amounts) - half, abs=1e-5)
    assert interval.high == pytest.approx(statistics.fmean(amounts) + half, abs=1e-5)


@time_machine.travel(NOW, tick=False)
def test_a_difference_of_means_uses_each_groups_own_spread() -> None:
    # 1000 recipients with 40 buyers of 50.00 against 1000 with 20 buyers of 50.00:
    # means 2.0 and 1.0; variances (40·2500 - 2000·2)/999 = 96.096096 and
    # (20·2500 - 1000·1)/999 = 49.049049; se = sqrt(0.096096 + 0.049049) = 0.380979;
    # ± 1.959964·se = ± 0.746706.
    interval = mean_difference((1000, 2000.0, 100_000.0), (1000, 1000.0, 50_000.0))
    assert interval.estimate == pytest.approx(1.0)
    assert interval.low == pytest.approx(1.0 - 0.746706, abs=2e-6)
    assert interval.high == pytest.approx(1.0 + 0.746706, abs=2e-6)
    assert interval.excludes_zero
    same = mean_difference((10, 0.0, 0.0), (10, 0.0, 0.0))
    assert (same.low, same.high, same.excludes_zero) == (0.0, 0.0, False)
    alone = mean_interval(1, 30.0, 900.0)  # one member: no spread to go by
    assert (alone.low, alone.high) == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="members > 0"):
        mean_interval(0, 0.0, 0.0)
