"""Net Promoter Score figures of a poll's answers: over time and per product category.

NPS = % promoters (9-10) − % detractors (0-6) of the answers counted, from −100 to 100.
An answer counts once in each category of the order its mail asked about (an order of a
shirt and shoes counts for both); answers about no known order count as `no order`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mailengine.polls.model import DETRACTOR_UP_TO, PROMOTER_FROM

Period = Literal["week", "month"]
UNCATEGORISED = "other"
NO_ORDER = "no order"


@dataclass(frozen=True)
class NpsFigure:
    """The answers of one period or category."""

    label: str
    answers: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> int | None:
        """NPS, rounded to a whole number; None without answers."""
        if not self.answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.answers)


@dataclass(frozen=True)
class NpsReport:
    poll: str
    total: NpsFigure
    periods: tuple[NpsFigure, ...]  # oldest first, every period of the range, empty or not
    categories: tuple[NpsFigure, ...]  # most answers first


class _Tally:
    def __init__(self) -> None:
        self.counts = [0, 0, 0]  # promoters, passives, detractors

    def add(self, score: int) -> None:
        index = 0 if score >= PROMOTER_FROM else 2 if score <= DETRACTOR_UP_TO else 1
        self.counts[index] += 1

    def figure(self, label: str) -> NpsFigure:
        promoters, passives, detractors = self.counts
        return NpsFigure(label, sum(self.counts), promoters, passives, detractors)


def categories_of(items: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The product categories of an order's items (`category` of each), each once."""
    if items is None:
        return [NO_ORDER]
    found = {
        str(item.get("category") or UNCATEGORISED) for item in items if isinstance(item, Mapping)
    }
    return sorted(found) or [UNCATEGORISED]


def period_start(moment: datetime, period: Period, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def _next(start: date, period: Period) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _label(start: date, period: Period) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def nps_report(
    poll: str,
    answers: Iterable[tuple[datetime, int, Sequence[Mapping[str, Any]] | None]],
    since: datetime,
    until: datetime,
    period: Period,
    zone: ZoneInfo,
) -> NpsReport:
    """The report of (answered at, score, the items of the order asked about) answers given
    in [since, until); periods start on Mondays (weeks) or the 1st (months) in `zone`."""
    total = _Tally()
    periods: dict[date, _Tally] = {}
    categories: dict[str, _Tally] = {}
    for answered_at, score, items in answers:
        total.add(score)
        periods.setdefault(period_start(answered_at, period, zone), _Tally()).add(score)
        for category in categories_of(items):
            categories.setdefault(category, _Tally()).add(score)
    start, last = (
        period_start(since, period, zone),
        period_start(until - timedelta(microseconds=1), period, zone),
    )
    rows = []
    while start <= last:
        rows.append(periods.get(start, _Tally()).figure(_label(start, period)))
        start = _next(start, period)
    by_category = sorted(
        (tally.figure(name) for name, tally in categories.items()),
        key=lambda figure: (-figure.answers, figure.label),
    )
    return NpsReport(poll, total.figure("all"), tuple(rows), tuple(by_category))
