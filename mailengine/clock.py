"""Time as a parameter: the system clock in production, a frozen clock in tests and simulations."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and `mailengine simulate`."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = ensure_aware(moment)


class RunningClock:
    """A clock that starts at a given moment and runs at the real pace: for tests in which
    real waits (leases, timeouts) pass, while the dates never depend on the day they run."""

    def __init__(self, start: datetime) -> None:
        self._start = ensure_aware(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)


def ensure_aware(moment: datetime) -> datetime:
    """Return `moment` in UTC; refuse naive datetimes, whose meaning is a guess."""
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)
