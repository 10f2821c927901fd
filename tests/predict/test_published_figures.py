"""The models reproduce the published figures on the CDNOW sample (2,357 customers, 39 weeks)."""

from __future__ import annotations

import numpy as np
import pytest

from mailengine.predict import (
    BgNbdParams,
    expected_orders,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
)
from mailengine.predict.bgnbd import log_likelihood
from tests.predict.conftest import Weeks

# Fader, Hardie & Lee (2005); Fader & Hardie's note on the Gamma-Gamma model.
PAPER_BGNBD = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PAPER_LOG_LIKELIHOOD = -9582.4
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def test_the_calibration_summaries_are_the_papers(calibration: Weeks) -> None:
    # 2,357 customers, of whom 1,411 made no repeat purchase in the 39 weeks.
    assert len(calibration.days) == 2357
    assert int((calibration.frequency == 0).sum()) == 1411
    assert int(calibration.frequency.sum()) == 2457
    # Everyone joined in the first 12 weeks of 1997: T runs from 27 to 39 weeks.
    assert calibration.age.min() == pytest.approx(27.0, abs=0.2)
    assert calibration.age.max() == pytest.approx(38.86, abs=0.01)


def test_bgnbd_reproduces_the_papers_parameters(calibration: Weeks) -> None:
    fit = fit_bgnbd(calibration.frequency, calibration.recency, calibration.age)
    assert fit.converged
    got = fit.params
    for name in ("r", "alpha", "a", "b"):
        assert getattr(got, name) == pytest.approx(getattr(PAPER_BGNBD, name), rel=0.02), name
    assert fit.log_likelihood == pytest.approx(PAPER_LOG_LIKELIHOOD, abs=0.1)


def test_the_log_likelihood_at_the_papers_parameters(calibration: Weeks) -> None:
    value = log_likelihood(PAPER_BGNBD, calibration.frequency, calibration.recency, calibration.age)
    assert value == pytest.approx(PAPER_LOG_LIKELIHOOD, abs=0.1)


def test_the_papers_worked_example_of_holdout_purchases(calibration: Weeks) -> None:
    # A customer with x = 2, t_x = 30.43, T = 38.86 is expected to make 1.226 purchases in the
    # 39 weeks that follow.
    paper = expected_orders(PAPER_BGNBD, 39.0, [2.0], [30.43], [38.86])
    assert paper[0] == pytest.approx(1.226, rel=0.01)
    fitted = fit_bgnbd(calibration.frequency, calibration.recency, calibration.age).params
    assert expected_orders(fitted, 39.0, [2.0], [30.43], [38.86])[0] == pytest.approx(
        1.226, rel=0.01
    )


def test_p_alive_of_the_worked_example() -> None:
    # 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) at the paper's parameters.
    odds = 0.793 / (2.426 + 1.0) * ((4.414 + 38.86) / (4.414 + 30.43)) ** (0.243 + 2.0)
    assert p_alive(PAPER_BGNBD, [2.0], [30.43], [38.86])[0] == pytest.approx(1.0 / (1.0 + odds))


def test_gamma_gamma_reproduces_the_notes_parameters(calibration: Weeks) -> None:
    fit = fit_gamma_gamma(calibration.frequency, calibration.days.mean_spend)
    assert fit.converged
    assert fit.customers == 946
    for name, value in PAPER_GAMMA_GAMMA.items():
        assert getattr(fit.params, name) == pytest.approx(value, rel=0.02), name
    # The note finds frequency and spend only weakly correlated (0.11) on these customers.
    assert fit.frequency_spend_correlation == pytest.approx(0.11, abs=0.01)


def test_the_mean_spend_of_repeat_customers(calibration: Weeks) -> None:
    # The sample's 946 repeat customers spend $35.08 per repeat order on average (orders on
    # one day added up, the first day left out).
    spend = calibration.days.mean_spend
    assert float(np.nanmean(spend)) == pytest.approx(35.08, abs=0.01)
