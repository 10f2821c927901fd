"""Crontab expressions: the five fields read as crontab(5) reads them, on wall-clock minutes.

Weekdays count from Sunday = 0 (7 is Sunday too; APScheduler 3's `CronTrigger.from_crontab`
counts from Monday, its issue 286). When both the day of month and the day of week are
restricted, a day matches if either does, as in crontab. Times here are naive wall-clock
minutes; `mailengine.cron.trigger` maps them to instants in a time zone.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# The sparsest expression that can fire ("0 0 29 2 *") fires every 4 years, at most 8 apart.
SEARCH_DAYS = 366 * 8 + 2
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_from: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES, 1),
    _Field("day of week", 0, 7, _WEEKDAY_NAMES, 0),
)


@dataclass(frozen=True)
class CronExpression:
    """A parsed five-field crontab expression."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool  # day of month and day of week both restricted: either one matches
    fixed_time: bool  # neither minute nor hour starts with '*' (cron's rule for DST changes)

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """ValueError naming the field when `text` is not a crontab expression that can fire."""
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"a cron expression has 5 fields, '{text}' has {len(fields)}")
        minutes, hours, days, months, weekdays = (
            _parse_field(value, spec) for value, spec in zip(fields, _FIELDS, strict=True)
        )
        day_star, weekday_star = fields[2][0] in "*?", fields[4][0] in "*?"
        expression = cls(
            text=text,
            minutes=tuple(sorted(minutes)),
            hours=tuple(sorted(hours)),
            days=frozenset(days),
            months=frozenset(months),
            weekdays=frozenset(day % 7 for day in weekdays),
            either_day=not day_star and not weekday_star,
            fixed_time=fields[0][0] != "*" and fields[1][0] != "*",
        )
        if not expression.either_day and not any(
            day <= _longest_month(month) for month in months for day in days
        ):
            raise ValueError(f"'{text}' names no day that exists in its months")
        return expression

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    def matches(self, wall: datetime) -> bool:
        return wall.minute in self.minutes and wall.hour in self.hours and self.matches_day(wall)

    def next_match(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock minute at or after `wall` (None: none for 8 years)."""
        start = _ceil_minute(wall)
        day = start.date()
        from_minute = start.hour * 60 + start.minute
        for _ in range(SEARCH_DAYS):
            if day.month not in self.months:  # on to the first day of the next month
                day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
                from_minute = 0
                continue
            if self.matches_day(day):
                found = self._time_at_or_after(from_minute)
                if found is not None:
                    return _midnight(day) + found
            day += timedelta(days=1)
            from_minute = 0
        return None

    def previous_match(self, wall: datetime) -> datetime | None:
        """The last matching wall-clock minute at or before `wall` (None: none for 8 years)."""
        start = wall.replace(second=0, microsecond=0)
        day = start.date()
        to_minute = start.hour * 60 + start.minute
        for _ in range(SEARCH_DAYS):
            if day.month not in self.months:  # back to the last day of the month before
                day = day.replace(day=1) - timedelta(days=1)
                to_minute = 24 * 60 - 1
                continue
            if self.matches_day(day):
                found = self._time_at_or_before(to_minute)
                if found is not None:
                    return _midnight(day) + found
            day -= timedelta(days=1)
            to_minute = 24 * 60 - 1
        return None

    def _time_at_or_after(self, minute_of_day: int) -> timedelta | None:
        hour, minute = divmod(minute_of_day, 60)
        for index in range(bisect_left(self.hours, hour), len(self.hours)):
            candidate = self.hours[index]
            first = bisect_left(self.minutes, minute) if candidate == hour else 0
            if first < len(self.minutes):
                return timedelta(hours=candidate, minutes=self.minutes[first])
        return None

    def _time_at_or_before(self, minute_of_day: int) -> timedelta | None:
        hour, minute = divmod(minute_of_day, 60)
        for index in range(bisect_right(self.hours, hour) - 1, -1, -1):
            candidate = self.hours[index]
            if candidate < hour:
                return timedelta(hours=candidate, minutes=self.minutes[-1])
            last = bisect_right(self.minutes, minute) - 1
            if last >= 0:
                return timedelta(hours=candidate, minutes=self.minutes[last])
        return None


def _parse_field(value: str, spec: _Field) -> set[int]:
    found: set[int] = set()
    for part in value.lower().split(","):
        span, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            raise ValueError(f"bad step '{step_text}' in {spec.name} '{value}'")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in {spec.name} '{value}'")
        if span == "*" or (span == "?" and spec.name.startswith("day")):
            first, last = spec.low, spec.high
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _number(start, spec), _number(end, spec)
            if spec.name == "day of week" and last == 0 and first > 0:
                last = 7  # "5-0", "fri-sun": up to Sunday
        else:
            first = _number(span, spec)
            last = spec.high if slash else first
        if first > last:
            raise ValueError(f"{spec.name} range '{span}' runs backwards")
        found.update(range(first, last + 1, step))
    return found


def _number(token: str, spec: _Field) -> int:
    if token in spec.names:
        return spec.names.index(token) + spec.names_from
    if token.isdigit() and spec.low <= int(token) <= spec.high:
        return int(token)
    allowed = f"{spec.low}-{spec.high}"
    if spec.names:
        allowed += f" or {spec.names[0]}-{spec.names[-1]}"
    article = "an" if spec.name[0] in "aeiouh" else "a"
    raise ValueError(f"'{token}' is not {article} {spec.name} ({allowed})")


def _longest_month(month: int) -> int:
    return calendar.monthrange(2024, month)[1]  # a leap year: 29 February exists


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + _MINUTE
