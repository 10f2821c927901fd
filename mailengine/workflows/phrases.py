"""The small phrases marketers write: `3 days`, `90 days ago`, `after 180 days`, `09:00`, `10%`.

Each parser returns a value or raises ValueError with a message that shows the accepted forms.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from mailengine.workflows.model import RelativeMoment

_UNITS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([a-z]+?)s?\s*$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PERCENT = re.compile(r"^\s*(\d{1,3})\s*%\s*$")
DURATION_FORMS = "a whole number and a unit: minutes, hours, days or weeks (e.g. '3 days')"


def parse_duration(text: object) -> timedelta:
    """`3 days`, `1 week`, `12 hours`, `30 minutes`; months and years are refused (ambiguous)."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '3 days', got {_shown(text)}")
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"'{text}' is not a duration: write {DURATION_FORMS}")
    count, unit = int(match.group(1)), match.group(2)
    if unit in ("month", "year"):
        raise ValueError(
            f"'{text}': months and years differ in length, write days instead "
            f"(e.g. '{count * (30 if unit == 'month' else 365)} days')"
        )
    if unit not in _UNITS:
        raise ValueError(f"'{text}': unknown unit '{unit}': write {DURATION_FORMS}")
    if count == 0:
        raise ValueError(f"'{text}': a duration must be longer than zero")
    return count * _UNITS[unit]


def parse_moment(value: object) -> date | datetime | RelativeMoment:
    """A point in time: `90 days ago`, `in 7 days`, `now`, `today`, `2026-01-31`, an ISO
    date-time with an offset. Relative moments are resolved later against `now`."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"'{value}' has no time zone: add one, e.g. '+00:00'")
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date such as '90 days ago' or '2026-01-31', got {value!r}")
    text = value.strip().lower()
    if text == "now":
        return RelativeMoment(timedelta(0))
    if text == "today":
        return RelativeMoment(timedelta(0), start_of_day=True)
    if text.endswith(" ago"):
        return RelativeMoment(-parse_duration(text[: -len(" ago")]))
    if text.startswith("in "):
        return RelativeMoment(parse_duration(text[len("in ") :]))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        parsed = None
    if parsed is not None:
        if len(value.strip()) == 10:
            return parsed.date()
        if parsed.tzinfo is None:
            raise ValueError(f"'{value}' has no time zone: add one, e.g. '+00:00'")
        return parsed
    raise ValueError(
        f"'{value}' is not a date: write e.g. '90 days ago', 'in 7 days', 'today' or '2026-01-31'"
    )


def parse_time_of_day(value: object) -> time:
    """`09:00` (24-hour clock). YAML 1.1 reads an unquoted 09:00 as a number: quote it."""
    if isinstance(value, int):
        raise ValueError('write the time in quotes, e.g. "09:00" (unquoted, YAML reads a number)')
    if not isinstance(value, str) or _TIME.match(value.strip()) is None:
        raise ValueError(f'expected a time of day such as "09:00", got {_shown(value)}')
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def parse_percent(value: object, *, low: int = 1, high: int = 99) -> int:
    """`10%`, `10 %` or the number 10: a whole percentage between `low` and `high`."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage such as 10%, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _PERCENT.match(value)) is not None:
        number = int(match.group(1))
    else:
        raise ValueError(f"expected a whole percentage such as 10%, got {_shown(value)}")
    if not low <= number <= high:
        raise ValueError(f"{number}% is out of range: write between {low}% and {high}%")
    return number


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
