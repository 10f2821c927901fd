"""Holdout intervals checked against published and hand-computed figures."""

from __future__ import annotations

import math

import pytest
import time_machine

from mailengine.studio.lift import rate_difference, relative_lift, wilson, z_value
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
