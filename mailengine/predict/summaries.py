"""Per-customer summaries of orders, the models' only input, computed without Python loops.

As in Fader, Hardie & Lee (2005), orders on one calendar day count as one order (their
amounts add up): x is the number of order days after the first, t_x the days from the first
to the last, T the days from the first to `now`. The Gamma-Gamma model's spend is the mean
amount of the repeat order days (the first day left out, as in Fader & Hardie's note), and
the rhythm is the median gap between a customer's order days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mailengine.errors import PredictionError
from mailengine.predict.arrays import Floats, Ints, as_floats


@dataclass(frozen=True)
class Summaries:
    """One row per customer with an order on or before `now`, in ascending customer id."""

    customer: Ints
    frequency: Floats  # x: order days after the first
    recency: Floats  # t_x: days from the first to the last order day
    age: Floats  # T: days from the first order day to now
    mean_spend: Floats  # mean amount of the repeat order days; NaN without any
    last_order_day: Floats  # the day number of the last order day
    median_gap: Floats  # median days between order days; NaN with fewer than 3 order days

    def __len__(self) -> int:
        return int(self.customer.size)


def _order_by(major: Ints, minor: Ints) -> Ints:
    """Indices sorting by `major`, then `minor`: one int64 key when it fits (5–10× faster
    than `np.lexsort`), `np.lexsort` otherwise."""
    if not major.size:
        return np.arange(0, dtype=np.int64)
    low, high = int(minor.min()), int(minor.max())
    span = high - low + 1
    if int(major.min()) >= 0 and int(major.max()) < (2**62) // span:
        order: Ints = np.argsort(major * span + (minor - low), kind="stable")
        return order
    fallback: Ints = np.lexsort((minor, major))
    return fallback


def _median_by_group(values: Floats, starts: Ints, counts: Ints) -> Floats:
    """The median of each run `values[start:start + count]`, each run sorted ascending."""
    result = np.full(starts.size, np.nan)
    some = counts > 0
    low = starts[some] + (counts[some] - 1) // 2
    high = starts[some] + counts[some] // 2
    result[some] = 0.5 * (values[low] + values[high])
    return result


def summarise(customer: ArrayLike, day: ArrayLike, amount: ArrayLike, now: int) -> Summaries:
    """Summaries of orders given as parallel arrays: customer id, calendar day number, amount.

    Day numbers are whole days on one axis (e.g. `date.toordinal()` in the shop's zone); orders
    after `now` are left out, so a back-test can pass every order and an earlier `now`.
    """
    ids = np.asarray(customer, dtype=np.int64).reshape(-1)
    days = np.asarray(day, dtype=np.int64).reshape(-1)
    amounts = as_floats(amount)
    if not (ids.size == days.size == amounts.size):
        raise PredictionError(
            f"customer, day and amount differ in length ({ids.size}, {days.size}, {amounts.size})"
        )
    keep = days <= now
    ids, days, amounts = ids[keep], days[keep], amounts[keep]
    order = _order_by(ids, days)
    ids, days, amounts = ids[order], days[order], amounts[order]

    # One entry per (customer, day), amounts added up.
    new_day = np.ones(ids.size, dtype=bool)
    new_day[1:] = (ids[1:] != ids[:-1]) | (days[1:] != days[:-1])
    day_starts = np.flatnonzero(new_day)
    ids, days = ids[day_starts], days[day_starts]
    spend = np.add.reduceat(amounts, day_starts) if day_starts.size else amounts[:0]

    new_customer = np.ones(ids.size, dtype=bool)
    new_customer[1:] = ids[1:] != ids[:-1]
    starts = np.flatnonzero(new_customer).astype(np.int64)
    customers = ids[starts]
    counts = np.diff(np.append(starts, ids.size)).astype(np.int64)
    ends = starts + counts - 1
    first, last = days[starts].astype(np.float64), days[ends].astype(np.float64)
    x = (counts - 1).astype(np.float64)
    total = np.add.reduceat(spend, starts) if starts.size else spend[:0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_spend = np.where(x > 0, (total - spend[starts]) / x, np.nan)

    # Gaps between consecutive order days of one customer, sorted within each customer.
    gaps = np.diff(days)
    same = ids[1:] == ids[:-1]
    gap_owner, gaps = ids[1:][same], gaps[same]
    sorted_gaps = gaps[_order_by(gap_owner, gaps)].astype(np.float64)
    gap_counts = counts - 1
    gap_starts = np.cumsum(gap_counts) - gap_counts
    median_gap = _median_by_group(sorted_gaps, gap_starts, gap_counts)
    median_gap[counts < 3] = np.nan

    return Summaries(
        customer=customers.astype(np.int64),
        frequency=x,
        recency=last - first,
        age=float(now) - first,
        mean_spend=mean_spend,
        last_order_day=last,
        median_gap=median_gap,
    )
