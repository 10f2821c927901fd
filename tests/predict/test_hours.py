"""Local hours and days of moments, and best hours, against zoneinfo moment by moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from mailengine.predict.hours import (
    best_hours,
    local_days,
    local_hours,
    local_seconds,
    shop_best_hour,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30


def moments_around_clock_changes() -> np.ndarray:
    """Every 20 minutes over both of 2026's clock changes in Berlin and New York."""
    found = []
    for start in (datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC)):
        found += [int((start + timedelta(minutes=20 * n)).timestamp()) for n in range(9 * 72)]
    return np.array(found, dtype=np.int64)


def test_local_seconds_days_and_hours_match_zoneinfo_across_clock_changes() -> None:
    moments = moments_around_clock_changes()
    for zone in (BERLIN, NEW_YORK, KOLKATA):
        expected = [datetime.fromtimestamp(m, UTC).astimezone(zone) for m in moments.tolist()]
        seconds = local_seconds(moments, zone)
        assert [s % 86_400 // 60 for s in seconds.tolist()] == [
            e.hour * 60 + e.minute for e in expected
        ]
        assert local_days(moments, zone).tolist() == [e.date().toordinal() for e in expected]


def test_sparse_moments_far_apart_are_looked_up_one_by_one() -> None:
    moments = np.array([0, 10**9, 2 * 10**9], dtype=np.int64)  # 1970, 2001, 2033
    expected = [datetime.fromtimestamp(m, UTC).astimezone(BERLIN).hour for m in moments.tolist()]
    hours = local_hours(moments, np.zeros(3, dtype=np.int64), [BERLIN])
    assert hours.tolist() == expected


def test_each_moment_in_its_own_zone() -> None:
    at = int(datetime(2026, 11, 23, 18, 0, tzinfo=UTC).timestamp())
    moments = np.array([at, at, at], dtype=np.int64)
    codes = np.array([1, 0, 2], dtype=np.int64)
    assert local_hours(moments, codes, [BERLIN, NEW_YORK, KOLKATA]).tolist() == [13, 19, 23]


def test_best_hours_most_often_then_earliest_and_none_without_moments() -> None:
    owner = np.array([0, 0, 0, 2, 2, 3, 3, 3, 3], dtype=np.int64)
    hours = np.array([19, 7, 19, 22, 6, 10, 11, 11, 10], dtype=np.int64)
    assert best_hours(owner, hours, 5).tolist() == [19, -1, 6, 10, -1]
    assert best_hours(owner[:0], hours[:0], 2).tolist() == [-1, -1]
    assert shop_best_hour(hours) == 10  # 19, 10 and 11 twice each: the earliest
    assert shop_best_hour(hours[:0]) is None
