"""Confidence intervals on counts and sums: did one group do better than another?

Used by the studio's holdout lift (the mailed against the held-out customers) and by the
winner of a broadcast's A/B test (one variant against another). A group is given by counts:
(x successes of n), or for an amount per member (n members, their sum, their sum of squares).

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
- `mean_interval` / `mean_difference`: the normal approximation for a mean amount (revenue
  per recipient) and for the difference of two (Welch's standard error, normal quantile).
  They need only n, the sum and the sum of squares, which SQL adds up for a million members
  in one grouped query; a bootstrap would need every member's amount in memory.

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


def mean_interval(
    members: int, total: float, squares: float, confidence: float = DEFAULT_CONFIDENCE
) -> Interval:
    """The mean of an amount over `members` (its `total` and the sum of its `squares`), ± z
    standard errors. With one member the spread is unknown: the interval is unbounded."""
    mean, variance = _moments(members, total, squares)
    half = z_value(confidence) * math.sqrt(variance / members)
    return Interval(mean, mean - half, mean + half, confidence)


def mean_difference(
    first: tuple[int, float, float],
    second: tuple[int, float, float],
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """The difference of two means, first minus second; each group is (members, total,
    squares). Welch's standard error: the groups may spread differently."""
    mean1, variance1 = _moments(*first)
    mean2, variance2 = _moments(*second)
    half = z_value(confidence) * math.sqrt(variance1 / first[0] + variance2 / second[0])
    return Interval(mean1 - mean2, mean1 - mean2 - half, mean1 - mean2 + half, confidence)


def _moments(members: int, total: float, squares: float) -> tuple[float, float]:
    """The mean and the sample variance (infinite for a single member)."""
    if members <= 0 or squares < 0:
        raise ValueError(f"need members > 0 and squares >= 0, got {members} and {squares}")
    mean = total / members
    if members == 1:
        return mean, math.inf
    # max(): the subtraction can come out a hair below 0 when every amount is the same.
    return mean, max(0.0, (squares - total * mean) / (members - 1))


def _check_counts(successes: int, trials: int) -> None:
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
