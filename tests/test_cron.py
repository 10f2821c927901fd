"""Crontab weekday numbers mean what crontab says (APScheduler 3 alone is off by one)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailengine.cron.trigger import crontab_trigger

BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY_NIGHT = datetime(2026, 11, 21, 23, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("expression", "weekday"),
    [
        ("0 10 * * 1", "Monday"),
        ("0 10 * * mon", "Monday"),
        ("0 10 * * 0", "Sunday"),
        ("0 10 * * 7", "Sunday"),
        ("0 10 * * 1-5", "Monday"),
        ("0 10 * * 5-7", "Sunday"),
        ("0 10 * * 2,4", "Tuesday"),
        ("0 10 * * *", "Sunday"),
    ],
)
def test_weekdays_count_from_sunday(expression: str, weekday: str) -> None:
    fire = crontab_trigger(expression, BERLIN).get_next_fire_time(None, SATURDAY_NIGHT)
    assert fire is not None
    assert fire.strftime("%A %H:%M") == f"{weekday} 10:00"


@pytest.mark.parametrize("expression", ["0 10 * *", "0 10 * * 8", "0 10 * * 5-2", "x 10 * * 1"])
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each has its own message)
        crontab_trigger(expression, BERLIN)


def test_day_of_month_or_day_of_week_when_both_are_given() -> None:
    trigger = crontab_trigger("0 10 1 * 1", BERLIN)  # the 1st, and every Monday (crontab(5))
    fires = []
    moment = SATURDAY_NIGHT
    for _ in range(4):
        fire = trigger.get_next_fire_time(None, moment)
        assert fire is not None
        fires.append(fire.strftime("%a %d"))
        moment = fire.replace(minute=1)
    assert fires == ["Mon 23", "Mon 30", "Tue 01", "Mon 07"]


def test_an_expression_that_never_fires_is_refused() -> None:
    with pytest.raises(ValueError, match="names no day that exists"):
        crontab_trigger("0 9 31 2 *", BERLIN)
    assert crontab_trigger("0 9 29 2 *", BERLIN).first_fire_at_or_after(SATURDAY_NIGHT) == (
        datetime(2028, 2, 29, 9, 0, tzinfo=BERLIN)
    )
