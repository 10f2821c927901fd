"""When a broadcast is planned, and whether its send time has passed: what scheduling it
(from its file or through the API) decides before anything is stored; and its send time
in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailengine.broadcasts.model import Broadcast, LocalTime, ShopTime
from mailengine.broadcasts.schedule import local_span, shop_instant

# Planning begins this long before the first mail may go.
PLAN_AHEAD = timedelta(minutes=5)
# A send time further back than this is a mistake unless the caller says to send at once.
LATE_TOLERANCE = timedelta(minutes=15)


@dataclass(frozen=True)
class Timing:
    """When the broadcast's first mail goes, when planning starts, and whether its send
    time passed (by more than LATE_TOLERANCE) without the caller saying to send at once."""

    first_send: datetime
    plan_at: datetime
    passed: bool

    def passed_words(self, zone: ZoneInfo) -> str:
        return f"send_at ({shown(self.first_send, zone)}) has passed"


def timing(broadcast: Broadcast, zone: ZoneInfo, now: datetime, at_once: bool) -> Timing:
    """`at_once` accepts a send time that passed; it never plans a broadcast whose send time
    is still to come any earlier, so its audience is still frozen when its mail is due."""
    first = first_send(broadcast, zone)
    passed = first < now - LATE_TOLERANCE and not at_once
    return Timing(first, max(now, plan_start(broadcast, zone)), passed)


def plan_start(broadcast: Broadcast, zone: ZoneInfo) -> datetime:
    """When planning begins: a little before the send time (the earliest zone's, for `local`)."""
    return first_send(broadcast, zone) - PLAN_AHEAD


def first_send(broadcast: Broadcast, zone: ZoneInfo) -> datetime:
    """The first instant any of its mail may go (the earliest zone's, for `local`)."""
    if isinstance(broadcast.send_at, LocalTime):
        return local_span(broadcast.send_at)[0]
    return shop_instant(broadcast.send_at, zone)


def shown(moment: datetime, zone: ZoneInfo) -> str:
    """`2026-11-23 10:55 CET`."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def when(broadcast: Broadcast, zone: ZoneInfo) -> str:
    """The send time as the file means it: `2027-01-14 09:00 Europe/Berlin`, or
    `2026-12-17 10:00 in each customer's zone`."""
    send_at = broadcast.send_at
    if isinstance(send_at, ShopTime):
        return f"{send_at.at:%Y-%m-%d %H:%M} {zone.key}"
    return f"{send_at.day:%Y-%m-%d} {send_at.at:%H:%M} in each customer's zone"
