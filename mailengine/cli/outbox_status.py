"""The outbox part of `mailengine status`: what waits, what is being sent, why mail is deferred.

Rows of (what, figure) for the status table: each state with its count; deferred and failed
messages by fault class; how long the longest-waiting queued message has been due, the
oldest deferred message and the earliest retry, the oldest claim still being sent. Times are in
the shop's zone, to the second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailengine.store.models import OUTBOX_STATES
from mailengine.store.outbox_health import OutboxHealth


def outbox_rows(health: OutboxHealth, now: datetime, zone: ZoneInfo) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for state in OUTBOX_STATES:
        figures = health.state(state)
        rows.append((f"outbox {state}", f"{figures.count:,}"))
        for fault, count in health.classes(state).items():
            rows.append((f"  {fault}", f"{count:,}"))
        if state == "queued" and health.overdue_seconds(state, now) > 0:
            rows.append(("  due longest", _moment(figures.earliest_due, now, zone)))
        elif state == "sending" and figures.count:
            rows.append(("  claimed longest", _moment(figures.oldest_claimed, now, zone)))
        elif state == "deferred" and figures.count:
            rows.append(("  oldest planned", _moment(figures.oldest_created, now, zone)))
            rows.append(("  earliest retry due", _moment(figures.earliest_due, now, zone)))
    return rows


def _moment(moment: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    if moment is None:
        return "none"
    shown = moment.astimezone(zone).replace(microsecond=0).isoformat(sep=" ")
    if moment <= now:
        return f"{shown} ({duration(now - moment)} ago)"
    return f"{shown} (in {duration(moment - now)})"


def duration(span: timedelta) -> str:
    """A span to the nearest unit people read at a glance: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
