"""Moments as local hours and days, and each customer's best hour, without a loop per moment.

Moments are whole seconds since the epoch (UTC). A zone's offset is looked up once per UTC
hour the moments fall in (zone transitions fall on whole UTC hours in every zone in use
today), so a million moments cost a few thousand `utcoffset` calls. A customer's best hour is
the local hour they opened, clicked and ordered in most often (the earlier hour on a tie);
the shop's is that over every customer's moments, each in the customer's own zone. It imports
only numpy and the shared vocabulary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from mailengine.predict.arrays import Ints

_HOUR = 3600
_DAY = 86_400
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_DENSE_HOURS = 200_000


def _offsets(hours: Ints, zone: ZoneInfo) -> Ints:
    """The zone's UTC offset in seconds at the start of each UTC hour (hours since the epoch)."""
    found = np.empty(hours.size, dtype=np.int64)
    for index, hour in enumerate(hours.tolist()):
        offset = datetime.fromtimestamp(hour * _HOUR, UTC).astimezone(zone).utcoffset()
        found[index] = int(offset.total_seconds()) if offset is not None else 0
    return found


def local_seconds(moments: Ints, zone: ZoneInfo) -> Ints:
    """Each moment as seconds since 1970-01-01 00:00 of the zone's wall clock."""
    if not moments.size:
        return moments.copy()
    hours = moments // _HOUR
    low, high = int(hours.min()), int(hours.max())
    if high - low <= _DENSE_HOURS:  # a span of ~23 years at most: one lookup per hour in it
        span = np.arange(low, high + 1, dtype=np.int64)
        offsets = _offsets(span, zone)[hours - low]
    else:  # a few moments far apart: one lookup per distinct hour
        distinct, where = np.unique(hours, return_inverse=True)
        offsets = _offsets(distinct, zone)[where]
    result: Ints = moments + offsets
    return result


def local_days(moments: Ints, zone: ZoneInfo) -> Ints:
    """Each moment's calendar day in the zone, as `date.toordinal()` numbers."""
    days: Ints = local_seconds(moments, zone) // _DAY + _EPOCH_ORDINAL
    return days


def local_hours(moments: Ints, zone_codes: Ints, zones: list[ZoneInfo]) -> Ints:
    """The hour of the day (0-23) of each moment in its own zone, `zones[zone_codes[i]]`."""
    hours = np.empty(moments.size, dtype=np.int64)
    if not moments.size:
        return hours
    order = np.argsort(zone_codes, kind="stable")
    sorted_codes = zone_codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    for group in np.split(order, bounds):
        zone = zones[int(zone_codes[group[0]])]
        hours[group] = local_seconds(moments[group], zone) // _HOUR % 24
    return hours


def best_hours(owner: Ints, hours: Ints, owners: int) -> Ints:
    """For each of `owners` customers (positions 0..owners-1), the hour that occurs most
    among their moments (`owner[i]` owns `hours[i]`); -1 for a customer without any."""
    result = np.full(owners, -1, dtype=np.int64)
    if not owner.size:
        return result
    keys, counts = np.unique(owner * 24 + hours, return_counts=True)
    who, hour = keys // 24, keys % 24
    order = np.lexsort((hour, -counts, who))  # per customer: most often first, then earliest
    who, hour = who[order], hour[order]
    first = np.ones(who.size, dtype=bool)
    first[1:] = who[1:] != who[:-1]
    result[who[first]] = hour[first]
    return result


def shop_best_hour(hours: Ints) -> int | None:
    """The hour that occurs most among all the moments (the earliest on a tie); None without."""
    if not hours.size:
        return None
    return int(np.bincount(hours, minlength=24).argmax())
