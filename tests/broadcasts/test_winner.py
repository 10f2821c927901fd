"""Choosing the winner of an A/B test by each metric: significant, not significant, tied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine

from mailengine.broadcasts.figures import (
    VariantFigures,
    WinnerChoice,
    choose_winner,
    metric_interval,
)
from mailengine.broadcasts.model import Metric, WinnerRule
from mailengine.intervals import mean_difference, mean_interval, rate_difference, wilson
from tests.conftest import NOW


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Nothing here reads the clock; should anything start to, it reads NOW."""
    with time_machine.travel(NOW, tick=False):
        yield


def rule(metric: Metric) -> WinnerRule:
    return WinnerRule(metric, timedelta(hours=4))


def cell(delivered: int, **figures: int | float) -> VariantFigures:
    return VariantFigures(planned=delivered, sent=delivered, delivered=delivered, **figures)  # type: ignore[arg-type]


def test_clicks_a_clear_winner() -> None:
    figures = {"A": cell(5000, clicked=150), "B": cell(5000, clicked=250)}
    choice = choose_winner(figures, rule("clicks"))
    assert (choice.winner, choice.significant, choice.tie) == ("B", True, False)
    assert choice.values == {"A": wilson(150, 5000), "B": wilson(250, 5000)}
    assert choice.differences == {"A": rate_difference((250, 5000), (150, 5000), 0.95)}
    assert choice.sentence == (
        "B wins on click rate with 5.0% (against A 3.0%, difference +2.0 points "
        "(+1.2 to +2.8), at 95% confidence): the difference is significant."
    )


def test_opens_a_lead_that_is_not_significant_still_picks_the_best() -> None:
    figures = {"A": cell(1000, opened=200), "B": cell(1000, opened=210)}
    choice = choose_winner(figures, rule("opens"))
    assert (choice.winner, choice.significant, choice.tie) == ("B", False, False)
    difference = choice.differences["A"]
    assert difference.low < 0 < difference.high
    assert choice.sentence == (
        "B leads on open rate with 21.0% (against A 20.0%, difference +1.0 points "
        "(-2.5 to +4.5), at 95% confidence), but the difference is not significant: "
        "B is picked on its point estimate."
    )


def test_conversions_a_tie_picks_the_first_name_whatever_the_order_given() -> None:
    # 3 of 100 and 30 of 1000: the same rate, exactly.
    figures = {"B": cell(100, conversions=3), "A": cell(1000, conversions=30)}
    choice = choose_winner(figures, rule("conversions"))
    assert (choice.winner, choice.significant, choice.tie) == ("A", False, True)
    assert choice.differences["B"].estimate == 0
    assert choice.sentence == (
        "A and B tie on conversion rate at 3.0%: A is picked because its name comes first; "
        "no difference to tell them apart."
    )
    swapped = choose_winner({"A": figures["A"], "B": figures["B"]}, rule("conversions"))
    assert swapped == choice


def test_conversions_a_clear_winner() -> None:
    figures = {"A": cell(2000, conversions=80), "B": cell(2000, conversions=40)}
    choice = choose_winner(figures, rule("conversions"))
    assert (choice.winner, choice.significant) == ("A", True)
    assert choice.differences["B"].low > 0


def test_revenue_per_recipient_uses_the_mean_and_its_spread() -> None:
    # 40 of 1000 bought for 50.00 against 20 of 1000.
    a = cell(1000, revenue_minor=200_000, revenue_squares=40 * 5000.0**2, conversions=40)
    b = cell(1000, revenue_minor=100_000, revenue_squares=20 * 5000.0**2, conversions=20)
    choice = choose_winner({"A": a, "B": b}, rule("revenue"), currency="EUR")
    assert (choice.winner, choice.significant) == ("A", True)
    assert choice.values["A"] == mean_interval(1000, 200_000, 40 * 5000.0**2)
    expected = mean_difference((1000, 200_000, 40 * 5000.0**2), (1000, 100_000, 20 * 5000.0**2))
    assert choice.differences["B"] == expected
    assert choice.sentence == (
        "A wins on revenue per recipient with EUR 2.00 (against B EUR 1.00, difference "
        "EUR +1.00 (EUR +0.25 to EUR +1.75), at 95% confidence): the difference is significant."
    )
    # One big order in each: the means differ, but not beyond the noise.
    c = cell(500, revenue_minor=30_000, revenue_squares=30_000.0**2)
    d = cell(500, revenue_minor=12_000, revenue_squares=12_000.0**2)
    close = choose_winner({"C": c, "D": d}, rule("revenue"), currency="JPY")
    assert (close.winner, close.significant) == ("C", False)
    assert "with JPY 60 (against D JPY 24" in close.sentence
    assert close.sentence.endswith("C is picked on its point estimate.")


def test_three_variants_each_comparison_is_held_to_the_corrected_confidence() -> None:
    figures = {
        "A": cell(4000, clicked=200),  # 5.0 %
        "B": cell(4000, clicked=150),  # 3.75 %: clearly behind
        "C": cell(4000, clicked=175),  # 4.375 %: not clearly behind
    }
    choice = choose_winner(figures, rule("clicks"))
    assert choice.winner == "A" and not choice.significant
    assert {d.confidence for d in choice.differences.values()} == {0.975}
    assert choice.differences["B"] == rate_difference((200, 4000), (150, 4000), 0.975)
    assert choice.differences["B"].low > 0 and choice.differences["C"].low < 0
    assert "at 97.5% confidence" in choice.sentence


def test_no_mail_delivered_yet_or_only_one_variant_to_go_by() -> None:
    nothing = choose_winner({"B": VariantFigures(planned=10), "A": VariantFigures()}, rule("opens"))
    assert nothing == WinnerChoice(
        "opens",
        "A",
        {"A": None, "B": None},
        {},
        False,
        False,
        "No variant has delivered mail yet: A is picked because its name comes first.",
    )
    one = choose_winner({"A": VariantFigures(), "B": cell(10, clicked=1)}, rule("clicks"))
    assert (one.winner, one.significant) == ("B", False)
    assert one.sentence == (
        "Only B has delivered mail (10.0%): there is nothing to compare it with yet."
    )
    with pytest.raises(ValueError, match="at least one variant"):
        choose_winner({}, rule("clicks"))


def test_the_test_cell_is_what_is_compared() -> None:
    test = cell(100, clicked=5)
    rest = cell(900, clicked=90)
    variant = replace(test + rest, phases={"test": test, "rest": rest})
    assert variant.tested == test and variant.delivered == 1000
    assert metric_interval(variant.tested, "clicks") == wilson(5, 100)
    assert metric_interval(VariantFigures(), "clicks") is None
    # One buyer of 50.00 among 10: the normal approximation's low end (-€4.80) stops at 0.
    one_buyer = metric_interval(cell(10, revenue_minor=5000, revenue_squares=5000.0**2), "revenue")
    assert one_buyer is not None and (one_buyer.estimate, one_buyer.low) == (500.0, 0.0)
    assert (test + rest).skip_reasons == {}
    skipped = VariantFigures(skipped=2, skip_reasons={"contact pressure": 2})
    both = skipped + VariantFigures(skipped=1, skip_reasons={"contact pressure": 1, "x": 0})
    assert both.skip_reasons == {"contact pressure": 3, "x": 0} and both.skipped == 3
