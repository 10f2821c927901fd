"""Crontab expressions as APScheduler 3 triggers, with crontab's weekday numbers.

APScheduler 3's `CronTrigger.from_crontab` counts weekdays from Monday = 0, while crontab
counts from Sunday = 0 (its own warning, issue 286): "0 10 * * 1" would fire on Tuesdays.
Here the day-of-week field is read the crontab way and handed over as weekday names.
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """A trigger for a five-field crontab expression; ValueError when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields, '{expression}' has {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekdays(weekday),
        timezone=timezone,
    )


def _weekdays(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day of week '{field}'")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _day(start), _day(end)
            if last == 0 and first > 0:
                last = 7  # "5-7", "fri-sun": up to Sunday
        else:
            first = last = _day(span)
        if first > last:
            raise ValueError(f"day-of-week range '{span}' runs backwards")
        days.update(number % 7 for number in range(first, last + 1, step))
    return ",".join(_NAMES[number] for number in sorted(days))


def _day(token: str) -> int:
    if token in _NAMES:
        return _NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"'{token}' is not a day of the week (0-7 or sun-sat)")
