"""Crontab weekday numbers mean what crontab says (APScheduler 3 alone is off by one)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailengine.cron import crontab_trigger

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
