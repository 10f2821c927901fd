"""The back-test's figures, checked by hand on a small shop and against brute force."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from mailengine.errors import PredictionError
from mailengine.predict.backtest import auc, backtest
from mailengine.predict.bgnbd import expected_orders
from tests.predict.conftest import CdnowOrders

UNTIL = 1000


def test_auc_is_the_share_of_pairs_ranked_right() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 60).astype(np.float64)  # many ties
    positive = rng.random(60) < 0.4
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in product(scores[positive], scores[~positive])
    ]
    assert auc(scores, positive) == pytest.approx(sum(pairs) / len(pairs))
    assert auc(scores, np.zeros(60, dtype=bool)) is None


def test_holdout_orders_next_order_days_and_groups() -> None:
    # Ann: order days 900, 910, 920, 930 (rhythm 10), then 941 and 941 again, 960 in the
    # holdout. Ben: 950 and 990, nothing after. Cy: first order in the holdout (not scored).
    customer = np.array([1, 1, 1, 1, 1, 1, 1, 2, 2, 3], dtype=np.int64)
    day = np.array([900, 910, 920, 930, 1041, 1041, 1060, 950, 990, 1005], dtype=np.int64)
    amount = np.full(customer.size, 20.0)
    found = backtest(customer, day, amount, UNTIL, 1099)
    assert found.customers == 2 and found.holdout_days == 100
    assert found.actual_orders == 2  # Ann's two order days; Cy is not a calibration customer
    params = found.models.bgnbd.params
    predicted = expected_orders(params, 100.0, [3.0, 1.0], [30.0, 40.0], [99.0, 49.0])
    assert found.predicted_orders == pytest.approx(float(predicted.sum()))
    assert found.mean_absolute_error == pytest.approx(
        (abs(predicted[0] - 2) + abs(predicted[1] - 0)) / 2
    )
    groups = {group.repeat_orders: group for group in found.groups}
    assert groups[3].customers == 1 and groups[3].mean_actual == 2.0
    assert groups[1].customers == 1 and groups[1].mean_actual == 0.0
    assert groups[0].customers == 0
    # Ann's rhythm says day 940, she came on 1041: 101 days off. The naive gap is the median
    # gap per repeat order (10, 10, 10 for Ann, 40 for Ben): 10 days, the same guess.
    assert found.next_order_model.customers == 1
    assert found.next_order_model.mean_days == 101.0
    assert found.naive_gap_days == 10.0 and found.next_order_naive.mean_days == 101.0
    assert found.churn_auc is not None  # Ben (no order) against Ann


def test_a_holdout_without_orders_before_it_is_refused() -> None:
    one = np.array([1], dtype=np.int64)
    with pytest.raises(PredictionError, match="no orders before the holdout"):
        backtest(one, np.array([1500], dtype=np.int64), [10.0], UNTIL, 2000)
    with pytest.raises(PredictionError, match="ends before it starts"):
        backtest(one, np.array([900], dtype=np.int64), [10.0], UNTIL, 999)


def test_cdnow_reproduces_the_papers_figure_4(cdnow: CdnowOrders) -> None:
    from datetime import date

    until, end = date(1997, 10, 1).toordinal(), date(1998, 6, 30).toordinal()
    found = backtest(cdnow.customer, cdnow.day, cdnow.amount, until, end)
    # Figure 4 of Fader, Hardie & Lee (2005): mean holdout purchases by calibration repeat
    # purchases, actual and (read off the figure) predicted.
    actual = [group.mean_actual for group in found.groups]
    assert actual[0] == pytest.approx(0.24, abs=0.01)
    assert actual[7] == pytest.approx(6.36, abs=0.05)
    assert found.groups[0].mean_predicted == pytest.approx(0.23, abs=0.01)
    assert found.expected_orders_auc is not None and found.expected_orders_auc > 0.75
