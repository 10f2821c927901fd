"""What a broadcast's mail did, per variant, and which variant wins by the declared metric.

The store counts the figures (`store.broadcast_report`); this module only reads them. Every
rate is per *delivered* message (sent, and no bounce came back), the base that does not
change with how many addresses of a variant's share happened to bounce:

- opens: messages opened at least once (a click counts as an open) / delivered;
- clicks: messages with at least one click / delivered;
- conversions: delivered messages whose recipient placed a counted order within the
  attribution window after the send / delivered;
- revenue: the amount of those orders per delivered message (minor units).

Rates get the Wilson interval and differences of rates Newcombe's (`mailengine.intervals`).
Revenue per recipient gets the normal approximation from n, the sum and the sum of squares,
not a bootstrap: a bootstrap needs every recipient's amount in memory (a million of them)
and is random, while the three sums come out of one grouped SQL query and give the same
answer every time. Revenue is skewed (most recipients spend 0), so for a few hundred
recipients the interval is rough; at the sizes a broadcast's test cells have (thousands) the
mean is close enough to normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction

from mailengine.broadcasts.model import Metric, WinnerRule
from mailengine.intervals import (
    DEFAULT_CONFIDENCE,
    Interval,
    mean_difference,
    mean_interval,
    rate_difference,
    wilson,
)
from mailengine.money import to_major

PHASES = ("all", "test", "rest")  # no test; a test cell; the winner sent to everyone else
METRIC_LABELS: dict[Metric, str] = {
    "opens": "open rate",
    "clicks": "click rate",
    "conversions": "conversion rate",
    "revenue": "revenue per recipient",
}


@dataclass(frozen=True)
class VariantFigures:
    """One variant's messages, by what became of them. Counts are messages (one per
    recipient); `phases` splits them into the test cell and the rest, when there are both."""

    planned: int = 0
    sent: int = 0  # accepted by the receiving server (some of them bounced later)
    delivered: int = 0  # sent, and no bounce came back
    bounced_hard: int = 0  # refused at once, or a permanent failure came back
    bounced_soft: int = 0  # a temporary failure came back, and no open or click since
    opened: int = 0  # delivered and opened at least once (a click counts as an open)
    clicked: int = 0  # delivered and clicked at least once
    unsubscribed: int = 0
    complained: int = 0
    conversions: int = 0  # delivered messages whose recipient ordered within the window
    revenue_minor: int = 0  # those orders' amounts
    revenue_squares: float = 0.0  # the sum over messages of (its revenue)²: for the interval
    skipped: int = 0  # not sent: the send-time checks said no (reasons in `skip_reasons`)
    skip_reasons: Mapping[str, int] = field(default_factory=dict)
    cancelled: int = 0
    paused: int = 0
    waiting: int = 0  # queued, being sent, or deferred to try again
    failed: int = 0  # not sent through our fault: the template did not render
    phases: Mapping[str, VariantFigures] = field(default_factory=dict)

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    def __add__(self, other: VariantFigures) -> VariantFigures:
        """Both sets of messages together (their phases are not kept)."""
        added: dict[str, object] = {}
        for item in fields(self):
            if item.name == "phases":
                continue
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name == "skip_reasons":
                reasons = dict(mine)
                for reason, count in theirs.items():
                    reasons[reason] = reasons.get(reason, 0) + count
                added[item.name] = reasons
            else:
                added[item.name] = mine + theirs
        return VariantFigures(**added)  # type: ignore[arg-type]

    @property
    def tested(self) -> VariantFigures:
        """The messages of the test cell (the whole variant when it had no test phase): the
        ones to compare, sent at the same time to customers split at random."""
        return self.phases.get("test", self)


def metric_interval(
    figures: VariantFigures, metric: Metric, confidence: float = DEFAULT_CONFIDENCE
) -> Interval | None:
    """The metric's value with its interval; None before any message was delivered. Revenue
    per recipient's interval ends at 0 below."""
    if figures.delivered == 0:
        return None
    if metric == "revenue":
        mean = mean_interval(
            figures.delivered, figures.revenue_minor, figures.revenue_squares, confidence
        )
        # Nobody spends less than nothing: the normal approximation's low end can fall below.
        return replace(mean, low=max(0.0, mean.low))
    return wilson(_count(figures, metric), figures.delivered, confidence)


@dataclass(frozen=True)
class WinnerChoice:
    """The variant to send to the rest, and how sure that choice is.

    `differences` are the winner's value minus each other variant's, at the confidence that
    keeps the whole comparison at 95 % (Bonferroni: with k variants, each of the k − 1
    comparisons at 1 − 0.05 / (k − 1)). `significant` means every one of them lies above 0.
    """

    metric: Metric
    winner: str
    values: Mapping[str, Interval | None]
    differences: Mapping[str, Interval]
    significant: bool
    tie: bool
    sentence: str


def choose_winner(
    figures_by_variant: Mapping[str, VariantFigures],
    rule: WinnerRule,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    currency: str = "EUR",
) -> WinnerChoice:
    """The variant with the best point estimate of `rule.metric`, always one: a tie or a
    difference that is not significant still picks one (the first by name among the best),
    and the sentence says so. Compare test cells (`VariantFigures.tested`), not the rest."""
    if not figures_by_variant:
        raise ValueError("choose_winner needs at least one variant")
    metric = rule.metric
    names = sorted(figures_by_variant)
    values = {name: metric_interval(figures_by_variant[name], metric) for name in names}
    measured = [name for name in names if values[name] is not None]
    if not measured:
        winner = names[0]
        sentence = (
            f"No variant has delivered mail yet: {winner} is picked because its name comes first."
        )
        return WinnerChoice(metric, winner, values, {}, False, False, sentence)
    exact = {name: _exact(figures_by_variant[name], metric) for name in measured}
    best = max(exact.values())
    leaders = [name for name in measured if exact[name] == best]
    winner = leaders[0]
    others = [name for name in measured if name != winner]
    if not others:
        sentence = (
            f"Only {winner} has delivered mail ({_shown(values[winner], metric, currency)}): "
            "there is nothing to compare it with yet."
        )
        return WinnerChoice(metric, winner, values, {}, False, False, sentence)
    each = 1 - (1 - confidence) / len(others)
    differences = {
        name: _difference(figures_by_variant[winner], figures_by_variant[name], metric, each)
        for name in others
    }
    significant = len(leaders) == 1 and all(d.low > 0 for d in differences.values())
    tie = len(leaders) > 1
    sentence = _sentence(winner, leaders, values, differences, metric, currency, significant)
    return WinnerChoice(metric, winner, values, differences, significant, tie, sentence)


def _count(figures: VariantFigures, metric: Metric) -> int:
    if metric == "opens":
        return figures.opened
    if metric == "clicks":
        return figures.clicked
    return figures.conversions


def _exact(figures: VariantFigures, metric: Metric) -> Fraction:
    """The point estimate as a fraction: 3/100 and 30/1000 tie, whatever floats make of them."""
    amount = figures.revenue_minor if metric == "revenue" else _count(figures, metric)
    return Fraction(amount, figures.delivered)


def _difference(
    first: VariantFigures, second: VariantFigures, metric: Metric, confidence: float
) -> Interval:
    if metric == "revenue":
        return mean_difference(
            (first.delivered, first.revenue_minor, first.revenue_squares),
            (second.delivered, second.revenue_minor, second.revenue_squares),
            confidence,
        )
    return rate_difference(
        (_count(first, metric), first.delivered),
        (_count(second, metric), second.delivered),
        confidence,
    )


def _sentence(
    winner: str,
    leaders: list[str],
    values: Mapping[str, Interval | None],
    differences: Mapping[str, Interval],
    metric: Metric,
    currency: str,
    significant: bool,
) -> str:
    label = METRIC_LABELS[metric]
    value = _shown(values[winner], metric, currency)
    if len(leaders) > 1:
        tied = ", ".join(leaders[:-1]) + f" and {leaders[-1]}"
        return (
            f"{tied} tie on {label} at {value}: {winner} is picked because its name comes "
            "first; no difference to tell them apart."
        )
    rivals = "; ".join(
        f"{name} {_shown(values[name], metric, currency)}, difference "
        f"{_shown_difference(interval, metric, currency)}"
        for name, interval in differences.items()
    )
    level = _percent_text(next(iter(differences.values())).confidence)
    if significant:
        return (
            f"{winner} wins on {label} with {value} (against {rivals}, at {level}): "
            "the difference is significant."
        )
    return (
        f"{winner} leads on {label} with {value} (against {rivals}, at {level}), but the "
        f"difference is not significant: {winner} is picked on its point estimate."
    )


def _shown(interval: Interval | None, metric: Metric, currency: str) -> str:
    if interval is None:
        return "nothing delivered"
    if metric == "revenue":
        return _money(interval.estimate, currency)
    return f"{interval.estimate * 100:.1f}%"


def _shown_difference(interval: Interval, metric: Metric, currency: str) -> str:
    if metric == "revenue":
        low, high = _money(interval.low, currency, "+"), _money(interval.high, currency, "+")
        return f"{_money(interval.estimate, currency, '+')} ({low} to {high})"
    points = f"{interval.estimate * 100:+.1f} points"
    return f"{points} ({interval.low * 100:+.1f} to {interval.high * 100:+.1f})"


def _money(minor: float, currency: str, sign: str = "") -> str:
    """Minor units as `EUR 1.25` (`+` sign: `EUR +1.25`); `unbounded` for an infinite end."""
    if not math.isfinite(minor):
        return "unbounded"
    return f"{currency} {to_major(minor, currency):{sign}}"


def _percent_text(confidence: float) -> str:
    return f"{confidence * 100:.4g}% confidence"
