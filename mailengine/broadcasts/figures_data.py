"""A broadcast's figures and winner as plain data for programs: `broadcast report --json` and
the API. Counts are numbers, money is in major units, rates are fractions with their 95 %
interval (`{"estimate", "low", "high"}`, an unbounded end null)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from mailengine.broadcasts.figures import (
    METRIC_LABELS,
    VariantFigures,
    WinnerChoice,
    choose_winner,
    metric_interval,
)
from mailengine.broadcasts.model import Metric, WinnerRule
from mailengine.intervals import Interval
from mailengine.money import to_major

DEFAULT_METRIC: Metric = "clicks"  # for a broadcast without a winner rule (a plain split)
RATE_METRICS: tuple[Metric, ...] = ("opens", "clicks", "conversions")


def variant_data(found: VariantFigures, currency: str) -> dict[str, Any]:
    """One variant's (or phase's) figures, without its phases."""
    values: dict[str, Any] = {
        key: value
        for key, value in asdict(found).items()
        if key not in ("phases", "revenue_squares", "revenue_minor")
    }
    values["bounced"] = found.bounced
    values["revenue"] = float(to_major(found.revenue_minor, currency))
    for metric in RATE_METRICS:
        values[rate_key(metric)] = interval_data(metric_interval(found, metric))
    values["revenue_per_recipient"] = interval_data(metric_interval(found, "revenue"), currency)
    return values


def rate_key(metric: Metric) -> str:
    """`open_rate`, `click_rate`, `conversion_rate`, `revenue_per_recipient`."""
    return METRIC_LABELS[metric].replace(" ", "_")


def interval_data(found: Interval | None, currency: str | None = None) -> dict[str, Any] | None:
    """An interval for JSON; money (`currency` given) in major units; an unbounded end null."""

    def value(number: float) -> float | None:
        if not math.isfinite(number):
            return None
        return float(to_major(number, currency)) if currency else number

    if found is None:
        return None
    return {"estimate": value(found.estimate), "low": value(found.low), "high": value(found.high)}


def winner_data(choice: WinnerChoice, currency: str) -> dict[str, Any]:
    """The variant that wins (or would), whether that is significant, and the sentence."""
    money = currency if choice.metric == "revenue" else None
    return {
        "metric": choice.metric,
        "variant": choice.winner,
        "significant": choice.significant,
        "tie": choice.tie,
        "sentence": choice.sentence,
        "values": {key: interval_data(value, money) for key, value in choice.values.items()},
        "differences": {
            key: interval_data(value, money) for key, value in choice.differences.items()
        },
    }


def report_winner(
    figures: Mapping[str, VariantFigures], metric: Metric | None, currency: str
) -> WinnerChoice | None:
    """The variant that wins (or would) by `metric` (the broadcast's winner rule; clicks for
    a plain split), comparing test cells; None before the broadcast has any mail."""
    if not figures:
        return None
    rule = WinnerRule(metric or DEFAULT_METRIC, timedelta(0))
    tested = {variant: found.tested for variant, found in figures.items()}
    return choose_winner(tested, rule, currency=currency)


def report_columns(figures: Mapping[str, VariantFigures]) -> dict[str, VariantFigures]:
    """A column per variant, and per phase of a variant sent in more than one (`B test`,
    `B rest`): how `broadcast report` and the studio lay the figures out."""
    columns: dict[str, VariantFigures] = {}
    for variant, found in figures.items():
        columns[variant] = found
        if len(found.phases) > 1:
            for phase, part in found.phases.items():
                columns[f"{variant} {phase}"] = part
    return columns
