"""Orders become per-customer summaries: one order per day, repeat spend, rhythm."""

from __future__ import annotations

import math

import pytest

from mailengine.errors import PredictionError
from mailengine.predict import summarise
from tests.conftest import NOW

TODAY = NOW.date().toordinal()


def test_orders_on_one_day_are_one_order_and_their_amounts_add_up() -> None:
    # Customer 7: first day 100 days ago (two orders), then 60 and 10 days ago.
    s = summarise(
        customer=[7, 7, 7, 7],
        day=[TODAY - 100, TODAY - 60, TODAY - 100, TODAY - 10],
        amount=[10.0, 30.0, 5.0, 50.0],
        now=TODAY,
    )
    assert s.customer.tolist() == [7]
    assert s.frequency.tolist() == [2.0]
    assert s.recency.tolist() == [90.0]
    assert s.age.tolist() == [100.0]
    assert s.last_order_day.tolist() == [float(TODAY - 10)]
    # Repeat spend leaves out the first day (15.0): (30 + 50) / 2.
    assert s.mean_spend.tolist() == [40.0]
    # Gaps of 40 and 50 days: the median of two is their mean.
    assert s.median_gap.tolist() == [45.0]


def test_the_rhythm_is_the_median_gap_and_needs_three_order_days() -> None:
    s = summarise(
        customer=[1, 1, 1, 1, 1, 2, 2, 3],
        day=[0, 10, 20, 90, 100, 0, 30, 5],
        amount=[1.0] * 8,
        now=200,
    )
    assert s.customer.tolist() == [1, 2, 3]
    # Customer 1: gaps 10, 10, 70, 10 → median 10, not the mean 25.
    assert s.median_gap[0] == 10.0
    assert math.isnan(s.median_gap[1])  # two order days: one gap is no rhythm
    assert math.isnan(s.median_gap[2])
    assert s.frequency.tolist() == [4.0, 1.0, 0.0]
    assert math.isnan(s.mean_spend[2])  # no repeat order, no repeat spend


def test_orders_after_now_are_left_out() -> None:
    s = summarise([1, 1, 2], [10, 30, 25], [5.0, 5.0, 5.0], now=20)
    assert s.customer.tolist() == [1]
    assert s.frequency.tolist() == [0.0]
    assert s.age.tolist() == [10.0]


def test_customer_ids_in_any_order_and_large() -> None:
    big = 2**40
    s = summarise([big, 3, big, 3], [5, 1, 9, 2], [1.0, 2.0, 3.0, 4.0], now=10)
    assert s.customer.tolist() == [3, big]
    assert s.frequency.tolist() == [1.0, 1.0]
    assert s.mean_spend.tolist() == [4.0, 3.0]


def test_no_orders_give_no_rows() -> None:
    s = summarise([], [], [], now=TODAY)
    assert len(s) == 0


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(PredictionError, match="differ in length"):
        summarise([1, 2], [1], [1.0, 2.0], now=TODAY)
