"""The support desk's clocks: per ticket, and the report's medians, percentile, targets and
buckets, worked out by hand for a small set of tickets."""

from __future__ import annotations

from datetime import timedelta

from mailengine.inbound.waiting_clock import (
    short_duration,
    ticket_clock,
    waiting_report,
)
from mailengine.store.desk import ClockRow
from mailengine.store.tickets import TicketRow
from tests.conftest import NOW

HOUR = timedelta(hours=1)


def _row(
    number: int,
    opened_hours_ago: float,
    *,
    answered_after: float | None = None,
    closed_after: float | None = None,
    waiting_hours: float | None = None,
    assignee: str | None = None,
) -> ClockRow:
    opened = NOW - opened_hours_ago * HOUR
    return ClockRow(
        id=number,
        state="closed" if closed_after is not None else "open",
        opened_at=opened,
        first_response_at=opened + answered_after * HOUR if answered_after is not None else None,
        closed_at=opened + closed_after * HOUR if closed_after is not None else None,
        awaiting_since=NOW - waiting_hours * HOUR if waiting_hours is not None else None,
        assignee=assignee,
    )


def test_a_ticket_clock_counts_waiting_first_answer_and_time_open() -> None:
    ticket = TicketRow(
        id=1,
        customer_id=None,
        address="a@example.com",
        subject="s",
        state="open",
        opened_at=NOW - 5 * HOUR,
        closed_at=None,
        last_message_at=NOW - HOUR,
        acknowledged_at=NOW - 5 * HOUR,
        awaiting_since=NOW - HOUR,
        first_response_at=NOW - 4 * HOUR,
    )
    clock = ticket_clock(ticket, NOW)
    assert (clock.waiting, clock.first_answer, clock.open_for) == (HOUR, HOUR, 5 * HOUR)


def test_durations_read_like_a_clock() -> None:
    assert short_duration(timedelta(seconds=59)) == "under 1 min"
    assert short_duration(timedelta(minutes=12, seconds=30)) == "12 min"
    assert short_duration(timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert short_duration(timedelta(days=3, hours=4, minutes=59)) == "3 d 4 h"


def test_the_report_over_four_answered_tickets_and_three_waiting() -> None:
    rows = [
        _row(1, 40, answered_after=0.5, closed_after=2, assignee="sam@shop.example"),
        _row(2, 30, answered_after=2, closed_after=10, assignee="sam@shop.example"),
        _row(3, 20, answered_after=5, assignee="kim@shop.example"),
        _row(4, 35, answered_after=30),
        _row(5, 0.5, waiting_hours=0.5, assignee="kim@shop.example"),
        _row(6, 3, waiting_hours=2),
        _row(7, 24 * 40, waiting_hours=30),  # opened before the period, waiting still
    ]
    report = waiting_report(rows, NOW - timedelta(days=7), NOW)
    assert (report.opened, report.answered, report.closed) == (6, 4, 2)
    # First answers: 0.5 h, 2 h, 5 h, 30 h.
    assert report.median_first_answer == 3.5 * HOUR
    assert report.p90_first_answer == 30 * HOUR
    assert [(t.label, t.count, t.share) for t in report.within_targets] == [
        ("within 1 hour", 1, 0.25),
        ("within 4 hours", 2, 0.5),
        ("within 24 hours", 3, 0.75),
    ]
    assert report.median_open_for == 6 * HOUR  # closed after 2 h and after 10 h
    assert [(b.label, b.count) for b in report.waiting_now] == [
        ("under 1 h", 1),
        ("1–4 h", 1),
        ("4–24 h", 0),
        ("over 24 h", 1),
    ]
    assert (report.waiting_total, report.longest_wait) == (3, 30 * HOUR)
    figures = {(f.assignee, f.opened, f.answered, f.median_first_answer, f.waiting_now)
               for f in report.by_assignee}  # fmt: skip
    assert figures == {
        ("kim@shop.example", 2, 1, 5 * HOUR, 1),
        ("sam@shop.example", 2, 2, 1.25 * HOUR, 0),
        ("", 2, 1, 30 * HOUR, 2),
    }
    assert report.by_assignee[-1].assignee == ""  # nobody's tickets come last


def test_an_empty_period_has_no_medians() -> None:
    report = waiting_report([], NOW - timedelta(days=7), NOW)
    assert (report.opened, report.median_first_answer, report.p90_first_answer) == (0, None, None)
    assert report.longest_wait is None
    assert [t.share for t in report.within_targets] == [0.0, 0.0, 0.0]
