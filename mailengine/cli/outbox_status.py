"""How the outbox part of `mailengine status` shows its moments: in the shop's zone, to the
second, with how long ago (or ahead) they are, in the units people read at a glance."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def shown_moment(moment: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    """A moment in the shop's zone, to the second, and how long ago or ahead it is."""
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
