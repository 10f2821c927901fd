"""Confidence intervals for a holdout test: did the mailed customers order more often?

Two groups: the mailed (x1 of n1 ordered within the window) and the held out (x2 of n2).

- `wilson`: the Wilson score interval for one proportion. Unlike the textbook p ± z·se it
  stays inside [0, 1] and keeps its coverage for small groups and rates near 0 (conversion
  rates are small), which is why it is used here.
- `rate_difference`: Newcombe's hybrid score interval for p1 − p2 (method 10 in Newcombe,
  "Interval estimation for the difference between independent proportions", Statistics in
  Medicine 17, 1998), built from the two Wilson intervals. It is what the studio shows as
  "percentage points more customers ordered", and it is defined even when a group has 0 or
  all conversions.
- `relative_lift`: the Katz log interval for the ratio p1 / p2, minus 1: the interval of the
  relative lift `report` prints. It needs at least one conversion in each group.

Pure arithmetic on counts; nothing here reads the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0: the difference is significant
        at this confidence."""
        return self.low > 0 or self.high < 0


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile: 1.95996... for 95 %."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, trials: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """The Wilson score interval for `successes` out of `trials`."""
    _check_counts(successes, trials)
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    low = 0.0 if successes == 0 else centre - half  # exact at the edges, not 1e-17 off
    high = 1.0 if successes == trials else centre + half
    return Interval(p, low, high, confidence)


def rate_difference(
    mailed: tuple[int, int], held_out: tuple[int, int], confidence: float = DEFAULT_CONFIDENCE
) -> Interval:
    """Newcombe's hybrid score interval for p1 − p2; each group is (converted, members)."""
    first, second = wilson(*mailed, confidence), wilson(*held_out, confidence)
    p1, p2 = first.estimate, second.estimate
    difference = p1 - p2
    low = difference - math.hypot(p1 - first.low, second.high - p2)
    high = difference + math.hypot(first.high - p1, p2 - second.low)
    return Interval(difference, low, high, confidence)


def relative_lift(
    mailed: tuple[int, int], held_out: tuple[int, int], confidence: float = DEFAULT_CONFIDENCE
) -> Interval | None:
    """The Katz log interval for p1 / p2 − 1; None when either group has no conversion (the
    ratio or its logarithm is then undefined)."""
    (x1, n1), (x2, n2) = mailed, held_out
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if x1 == 0 or x2 == 0:
        return None
    ratio = (x1 / n1) / (x2 / n2)
    spread = z_value(confidence) * math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    log_ratio = math.log(ratio)
    return Interval(
        ratio - 1, math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1, confidence
    )


def _check_counts(successes: int, trials: int) -> None:
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
