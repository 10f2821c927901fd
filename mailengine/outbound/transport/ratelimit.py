"""Throughput control: a global rate and per-recipient-domain rates, in messages per second.

Each limit is a GCRA (generic cell rate algorithm) schedule, the token bucket written as "the
earliest time the next message may go": a caller reserves the next slot and sleeps until it.
Reservations are handed out in call order, so waiting senders are served first come, first
served, and a burst larger than `burst` is spread evenly. Time comes from an injectable
monotonic clock and sleep function, so tests run in virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping


class Schedule:
    """One limit: `rate` messages per second, up to `burst` of them back to back."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, not {rate}/{burst}")
        self.interval = 1.0 / rate
        self._tolerance = (burst - 1.0) * self.interval
        self._arrival = float("-inf")  # theoretical arrival time of the next message

    def reserve(self, now: float) -> float:
        """Take the next slot; the delay in seconds before it may be used (0 = now)."""
        arrival = max(self._arrival, now)
        self._arrival = arrival + self.interval
        return max(0.0, arrival - self._tolerance - now)


class RateLimiter:
    """A global limit (`rate_per_second`, 0 = none) and limits per recipient domain."""

    def __init__(
        self,
        rate_per_second: float = 0,
        per_domain: Mapping[str, float] | None = None,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._global = Schedule(rate_per_second, burst) if rate_per_second > 0 else None
        self._domains = {
            domain.lower(): Schedule(rate, burst)
            for domain, rate in (per_domain or {}).items()
            if rate > 0
        }
        self._clock = clock
        self._sleep = sleep

    @property
    def unlimited(self) -> bool:
        return self._global is None and not self._domains

    def longest_wait(self, concurrent: int) -> float:
        """The longest `acquire` can wait while at most `concurrent` callers wait at once.

        Reservations are first come, first served and a slot is left once its time has
        come, so a caller finds at most `concurrent - 1` others ahead of it on its domain's
        schedule, then on the global one: one interval each, and its own.
        """
        intervals = [schedule.interval for schedule in self._domains.values()]
        slowest_domain = max(intervals, default=0.0)
        global_interval = self._global.interval if self._global is not None else 0.0
        return max(1, concurrent) * (slowest_domain + global_interval)

    async def acquire(self, domain: str) -> None:
        """Wait until one message to `domain` may go.

        The domain's slot is waited for first and the global slot reserved only then, so a
        message held back by its domain does not hold a global slot that others could use.
        """
        schedule = self._domains.get(domain.lower())
        if schedule is not None:
            delay = schedule.reserve(self._clock())
            if delay > 0:
                await self._sleep(delay)
        if self._global is not None:
            delay = self._global.reserve(self._clock())
            if delay > 0:
                await self._sleep(delay)
