"""When a crontab expression fires in a time zone, across daylight-saving changes.

A matching wall-clock minute fires at the instant the zone shows it. Around a change the wall
clock repeats or skips some minutes; the rules are cron's (Vixie cron, cronie):

- a repeated wall time fires at both instants when the minute or hour field starts with `*`
  (every minute, hourly, every 15 minutes: real time goes on), and once, at the first, for a
  job at fixed times ("30 2 * * *" runs once that night);
- a fixed time that the clock skips fires once, at the first instant after the jump, so a
  daily schedule never loses a day.

`CrontabTrigger` is an APScheduler 3 trigger with these fire times (APScheduler's own
`CronTrigger` drops or adds fires around some changes, e.g. Pacific/Chatham's and
Australia/Lord_Howe's). Every search steps from the given instant over matching wall-clock
minutes, a handful per call, never over every fire since some distant start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from mailengine.cron.expression import CronExpression

# Offsets change by at most this much around any instant (real changes: 30 minutes to 2 hours).
_REACH = timedelta(hours=3)
_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """Fire times of a crontab expression in one time zone; picklable for job stores."""

    def __init__(self, expression: str, timezone: ZoneInfo) -> None:
        self.expression = CronExpression.parse(expression)
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """APScheduler's question. After `previous_fire_time` several fires may have passed
        (the engine was down): the latest of them is returned at once, as coalescing would
        keep only it anyway, instead of walking every missed fire on the event loop."""
        if previous_fire_time is None:
            return self.first_fire_at_or_after(now)
        upcoming = self.first_fire_at_or_after(previous_fire_time.astimezone(UTC) + _SECOND)
        if upcoming is not None and upcoming.astimezone(UTC) < now.astimezone(UTC):
            return self.latest_fire_at_or_before(now)
        return upcoming

    def first_fire_at_or_after(self, moment: datetime) -> datetime | None:
        start = moment.astimezone(UTC)
        low, _ = self._offsets(start - _REACH, start, start + _REACH)  # a jump just before
        best: datetime | None = None
        stop = datetime.max  # no wall time past this one fires before `best`
        wall = self.expression.next_match(_naive(start + low))
        while wall is not None and wall <= stop:
            for instant in self._instants(wall):
                if instant >= start and (best is None or instant < best):
                    best = instant
                    stop = _naive(best + self._offsets(best - _REACH, best)[1])
            wall = self.expression.next_match(wall + _MINUTE)
        return None if best is None else best.astimezone(self.timezone)

    def latest_fire_at_or_before(self, moment: datetime) -> datetime | None:
        end = moment.astimezone(UTC)
        _, high = self._offsets(end - _REACH, end)
        best: datetime | None = None
        stop = datetime.min  # no wall time before this one fires after `best`
        wall = self.expression.previous_match(_naive(end + high))
        while wall is not None and wall >= stop:
            for instant in self._instants(wall):
                if instant <= end and (best is None or instant > best):
                    best = instant
                    stop = _naive(best + self._offsets(best, best + _REACH)[0])
            wall = self.expression.previous_match(wall - _MINUTE)
        return None if best is None else best.astimezone(self.timezone)

    def _instants(self, wall: datetime) -> tuple[datetime, ...]:
        """The instants at which a matching wall-clock minute fires: one, two or none."""
        first_offset = _offset(wall.replace(tzinfo=self.timezone, fold=0))
        second_offset = _offset(wall.replace(tzinfo=self.timezone, fold=1))
        first = (wall - first_offset).replace(tzinfo=UTC)
        if first_offset == second_offset:
            return (first,)
        second = (wall - second_offset).replace(tzinfo=UTC)
        if first_offset > second_offset:  # the clock went back: shown twice, first < second
            return (first,) if self.expression.fixed_time else (first, second)
        # Skipped by a jump: `second` (the offset after it) lies before, `first` after it.
        return (self._jump(second, first),) if self.expression.fixed_time else ()

    def _jump(self, before: datetime, after: datetime) -> datetime:
        """The first second in (before, after] shown with the offset after the jump."""
        offset_after = after.astimezone(self.timezone).utcoffset()
        low, high = int(before.timestamp()), int(after.timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            shown = datetime.fromtimestamp(middle, UTC).astimezone(self.timezone)
            if shown.utcoffset() == offset_after:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)

    def _offsets(self, *moments: datetime) -> tuple[timedelta, timedelta]:
        """The smallest and largest UTC offset at these instants."""
        offsets = [_offset(moment.astimezone(self.timezone)) for moment in moments]
        return min(offsets), max(offsets)

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "expression": self.expression.text, "timezone": self.timezone.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version") != 1:
            raise ValueError(f"cannot read a crontab trigger stored as {state!r}")
        self.__init__(state["expression"], ZoneInfo(state["timezone"]))  # type: ignore[misc]

    def __str__(self) -> str:
        return f"crontab[{self.expression.text}, {self.timezone.key}]"

    def __repr__(self) -> str:
        return f"<CrontabTrigger {self.expression.text!r} in {self.timezone.key}>"


def crontab_trigger(expression: str, timezone: ZoneInfo) -> CrontabTrigger:
    """A trigger for a five-field crontab expression; ValueError when it is not one."""
    return CrontabTrigger(expression, timezone)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset")
    return offset
