"""Fire times of crontab expressions across daylight-saving changes, against brute force.

The reference walks minute by minute in UTC and tests the fields on the zone's wall clock,
with cron's two rules for changes (Vixie cron, cronie): a job at fixed times runs once when
the wall clock repeats (at the first pass) and once right after a jump that skipped its time;
a job whose minute or hour starts with `*` follows real time.
"""

from __future__ import annotations

import bisect
import itertools
import pickle
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from mailengine.cron.trigger import CrontabTrigger
from mailengine.engine.scheduler import latest_fire_time

MINUTE = timedelta(minutes=1)
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",  # southern hemisphere: clocks go back in April
    "Asia/Kolkata",  # no daylight saving time
    "Australia/Lord_Howe",  # a 30-minute change
    "Pacific/Chatham",  # +12:45 / +13:45, changing at 02:45
)
CRONS = (
    "* * * * *",
    "0 * * * *",
    "*/15 * * * *",
    "0 9 * * *",
    "30 2 * * *",  # inside the changed hour in most of these zones
    "0 10 * * 1",
    "*/15 9-17 * * 1-5",
)


def _values(field: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(bound) for bound in span.split("-"))
        else:
            first = last = int(span)
        found.update(range(first, last + 1, int(step or 1)))
    return found


def _wall_matcher(cron: str) -> tuple[Callable[[datetime], bool], bool]:
    minute, hour, day, month, weekday = cron.split()
    minutes, hours = _values(minute, 0, 59), _values(hour, 0, 23)
    days, months = _values(day, 1, 31), _values(month, 1, 12)
    weekdays = {number % 7 for number in _values(weekday, 0, 7)}

    def matches(wall: datetime) -> bool:
        return (
            wall.minute in minutes
            and wall.hour in hours
            and wall.day in days
            and wall.month in months
            and wall.isoweekday() % 7 in weekdays
        )

    return matches, not minute.startswith("*") and not hour.startswith("*")


Walk = list[tuple[datetime, datetime, int]]  # (UTC minute, wall clock then, its fold)


def reference_fires(cron: str, walk: Walk) -> list[datetime]:
    """The fires of `cron` over a minute-by-minute walk."""
    matches, fixed_time = _wall_matcher(cron)
    fires = []
    for (_, shown_before, _), (moment, shown, fold) in itertools.pairwise(walk):
        if matches(shown) and not (fixed_time and fold == 1):
            fires.append(moment)
        elif fixed_time and shown - shown_before > MINUTE:  # the clock jumped over ...
            skipped = shown_before + MINUTE
            while skipped < shown and not matches(skipped):
                skipped += MINUTE
            if skipped < shown:  # ... a time this job runs at: it runs now
                fires.append(moment)
    return fires


def minute_walk(zone: ZoneInfo, start: datetime, end: datetime) -> Walk:
    walk = []
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        walk.append((moment, local.replace(tzinfo=None), local.fold))
        moment += MINUTE
    return walk


@cache
def changes_in_2026(zone_name: str) -> tuple[datetime, ...]:
    """The instants the zone's offset changes in 2026 (Berlin's for a zone without any)."""
    zone = ZoneInfo(zone_name)

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(zone).utcoffset()

    found = []
    day = datetime(2026, 1, 1, tzinfo=UTC)
    while day.year == 2026:
        if offset(day) != offset(day + timedelta(days=1)):
            low, high = 0, 24 * 60  # minutes into the day: still the old offset, the new one
            while high - low > 1:
                middle = (low + high) // 2
                if offset(day + middle * MINUTE) == offset(day):
                    low = middle
                else:
                    high = middle
            found.append(day + high * MINUTE)
        day += timedelta(days=1)
    return tuple(found) or changes_in_2026("Europe/Berlin")


CASES = [
    pytest.param(name, index, id=f"{name}-{changes_in_2026(name)[index]:%m-%d}")
    for name in ZONES
    for index in range(2)
]


def _moments_to_ask(change: datetime, fires: list[datetime]) -> list[datetime]:
    """Every few minutes around the change, now and then over four days, and the fires of
    the half hour either side of the change with a second either side."""
    moments = []
    for minute in range(-180, 180, 13):
        moments += [change + minute * MINUTE, change + minute * MINUTE + timedelta(seconds=59)]
    moments += [change + timedelta(minutes=minute, seconds=13) for minute in range(-2880, 2880, 97)]
    for fire in fires:
        if abs(fire - change) <= timedelta(minutes=30):
            moments += [fire - timedelta(seconds=1), fire, fire + timedelta(seconds=1)]
    return moments


@pytest.mark.parametrize(("zone_name", "index"), CASES)
def test_fire_times_match_a_minute_by_minute_walk_around_daylight_saving_changes(
    zone_name: str, index: int
) -> None:
    zone = ZoneInfo(zone_name)
    change = changes_in_2026(zone_name)[index]
    walk = minute_walk(zone, change - timedelta(days=9), change + timedelta(days=9))
    for cron in CRONS:
        trigger = CrontabTrigger(cron, zone)
        fires = reference_fires(cron, walk)
        for moment in _moments_to_ask(change, fires):
            asked = moment.astimezone(zone)
            latest = fires[bisect.bisect_right(fires, moment) - 1]
            first = fires[bisect.bisect_left(fires, moment)]
            # In UTC: an instant of a repeated wall time equals none in another zone (PEP 495).
            assert _utc(trigger.latest_fire_at_or_before(asked)) == latest, (cron, asked)
            assert _utc(trigger.first_fire_at_or_after(asked)) == first, (cron, asked)
            if moment.second == 0:
                assert _utc(latest_fire_time(cron, zone, asked)) == latest, (cron, asked)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


BERLIN = ZoneInfo("Europe/Berlin")
# 2026-10-25 02:30 in Berlin, the second time (CET, after the clocks went back).
FOLDED = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("* * * * *", FOLDED),
        ("0 * * * *", datetime(2026, 10, 25, 2, 0, fold=1, tzinfo=BERLIN)),
        ("30 2 * * *", datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN)),  # once, the first
    ],
)
def test_the_folded_hour_names_its_own_fire_and_does_not_hang(
    cron: str, expected: datetime
) -> None:
    fire = latest_fire_time(cron, BERLIN, FOLDED)
    assert fire == expected
    assert fire.utcoffset() == expected.utcoffset()


def test_a_skipped_fixed_time_fires_once_right_after_the_jump() -> None:
    trigger = CrontabTrigger("30 2 * * *", BERLIN)
    night = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    assert trigger.first_fire_at_or_after(night) == datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(
        datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN), night
    ) == datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)


def test_the_latest_minutely_fire_takes_well_under_50_ms() -> None:
    for now in (FOLDED, datetime(2026, 11, 23, 10, 30, 17, tzinfo=BERLIN)):
        started = time.perf_counter()
        fire = latest_fire_time("* * * * *", BERLIN, now)
        elapsed = time.perf_counter() - started
        assert fire == now.replace(second=0)
        assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms at {now.isoformat()}"


def test_after_a_long_stop_the_next_fire_is_the_latest_missed_one() -> None:
    trigger = CrontabTrigger("* * * * *", BERLIN)
    stopped = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    back = datetime(2026, 11, 23, 10, 30, 17, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(stopped, back) == datetime(
        2026, 11, 23, 10, 30, tzinfo=BERLIN
    )
    assert trigger.get_next_fire_time(back.replace(second=0), back) == datetime(
        2026, 11, 23, 10, 31, tzinfo=BERLIN
    )


def test_a_trigger_survives_the_job_store() -> None:
    trigger = pickle.loads(pickle.dumps(CrontabTrigger("0 10 * * 1", BERLIN)))
    assert str(trigger) == "crontab[0 10 * * 1, Europe/Berlin]"
    monday = trigger.first_fire_at_or_after(datetime(2026, 11, 21, tzinfo=BERLIN))
    assert monday == datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
