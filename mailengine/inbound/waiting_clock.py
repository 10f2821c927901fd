"""The support desk's clocks: how long a customer has waited for a person, how long the first
answer took, how long a ticket has been open; per ticket and as a report over a period.

Plain arithmetic over the times the store keeps, with `now` passed in. Times are wall-clock
times (no business hours): a message on Saturday that is answered on Monday waited two days.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailengine.store.desk import ClockRow
from mailengine.store.tickets import TicketRow

# The targets the report counts first answers against.
ANSWER_TARGETS = (
    ("within 1 hour", timedelta(hours=1)),
    ("within 4 hours", timedelta(hours=4)),
    ("within 24 hours", timedelta(hours=24)),
)
# The buckets of tickets waiting now.
WAITING_BUCKETS = (
    ("under 1 h", timedelta(0), timedelta(hours=1)),
    ("1–4 h", timedelta(hours=1), timedelta(hours=4)),
    ("4–24 h", timedelta(hours=4), timedelta(hours=24)),
    ("over 24 h", timedelta(hours=24), timedelta.max),
)


@dataclass(frozen=True)
class TicketClock:
    """`waiting`: since the oldest customer message nobody answered (None: not waiting for
    us); `first_answer`: from opening to a person's first answer (None: none yet);
    `open_for`: from opening to closing, or to now."""

    waiting: timedelta | None
    first_answer: timedelta | None
    open_for: timedelta


def ticket_clock(ticket: TicketRow, now: datetime) -> TicketClock:
    waiting = now - ticket.awaiting_since if ticket.awaiting_since is not None else None
    first = (
        ticket.first_response_at - ticket.opened_at
        if ticket.first_response_at is not None
        else None
    )
    end = ticket.closed_at if ticket.closed_at is not None else now
    open_for = max(end - ticket.opened_at, timedelta(0))
    return TicketClock(_not_negative(waiting), _not_negative(first), open_for)


def _not_negative(value: timedelta | None) -> timedelta | None:
    return None if value is None else max(value, timedelta(0))


def short_duration(value: timedelta) -> str:
    """What a clock shows: `under 1 min`, `12 min`, `2 h 05 min`, `3 d 4 h`."""
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@dataclass(frozen=True)
class TargetShare:
    label: str
    count: int
    share: float  # of the answered tickets


@dataclass(frozen=True)
class BucketCount:
    label: str
    count: int


@dataclass(frozen=True)
class AssigneeFigures:
    assignee: str  # an address, or "" for tickets nobody was given
    opened: int
    answered: int
    median_first_answer: timedelta | None
    waiting_now: int


@dataclass(frozen=True)
class WaitingReport:
    """The figures of tickets opened in the period, and of those waiting now."""

    since: datetime
    now: datetime
    opened: int
    answered: int
    median_first_answer: timedelta | None
    p90_first_answer: timedelta | None
    within_targets: tuple[TargetShare, ...]
    closed: int
    median_open_for: timedelta | None
    waiting_now: tuple[BucketCount, ...]
    longest_wait: timedelta | None
    by_assignee: tuple[AssigneeFigures, ...]

    @property
    def waiting_total(self) -> int:
        return sum(bucket.count for bucket in self.waiting_now)


def waiting_report(rows: Sequence[ClockRow], since: datetime, now: datetime) -> WaitingReport:
    """The report over `rows` (tickets opened since `since`, and every ticket waiting now)."""
    period = [row for row in rows if row.opened_at >= since]
    firsts = _first_answers(period)
    closed = [row.closed_at - row.opened_at for row in period if row.closed_at is not None]
    waits = [now - row.awaiting_since for row in rows if _waiting(row) and row.awaiting_since]
    return WaitingReport(
        since=since,
        now=now,
        opened=len(period),
        answered=len(firsts),
        median_first_answer=_median(firsts),
        p90_first_answer=_percentile(firsts, 0.9),
        within_targets=tuple(
            TargetShare(
                label,
                count := sum(1 for first in firsts if first <= target),
                count / len(firsts) if firsts else 0.0,
            )
            for label, target in ANSWER_TARGETS
        ),
        closed=len(closed),
        median_open_for=_median(closed),
        waiting_now=tuple(
            BucketCount(label, sum(1 for wait in waits if low <= wait < high))
            for label, low, high in WAITING_BUCKETS
        ),
        longest_wait=max(waits) if waits else None,
        by_assignee=_by_assignee(rows, period),
    )


def _waiting(row: ClockRow) -> bool:
    return row.state == "open" and row.awaiting_since is not None


def _first_answers(rows: Iterable[ClockRow]) -> list[timedelta]:
    return [
        max(row.first_response_at - row.opened_at, timedelta(0))
        for row in rows
        if row.first_response_at is not None
    ]


def _by_assignee(
    rows: Sequence[ClockRow], period: Sequence[ClockRow]
) -> tuple[AssigneeFigures, ...]:
    names = sorted({row.assignee or "" for row in rows}, key=lambda name: (name == "", name))
    figures = []
    for name in names:
        mine = [row for row in period if (row.assignee or "") == name]
        firsts = _first_answers(mine)
        waiting = sum(1 for row in rows if (row.assignee or "") == name and _waiting(row))
        figures.append(AssigneeFigures(name, len(mine), len(firsts), _median(firsts), waiting))
    return tuple(figures)


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(value.total_seconds() for value in values))


def _percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """The nearest-rank percentile: the smallest value at least `share` of them do not pass."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]
