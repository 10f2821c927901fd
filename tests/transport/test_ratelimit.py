"""Rate limits in virtual time: a clock that only moves when a sender sleeps."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.ratelimit import RateLimiter, Schedule
from tests.transport.samples import sample_envelope

T = TypeVar("T")


class VirtualTime:
    """A monotonic clock that jumps to the next sleeper's wake-up once every task is waiting.

    `run(coroutine)` drives it; `wakes` records (time, label) of each send for the checks.
    """

    def __init__(self) -> None:
        self.now = 100.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(self._sleepers, (self.now + seconds, self._order, future))
        await future

    async def run(self, coroutine: Awaitable[T]) -> T:
        task = asyncio.ensure_future(coroutine)
        while not task.done():
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
        return task.result()


def test_a_schedule_spaces_messages_evenly() -> None:
    schedule = Schedule(rate=20)
    delays = [schedule.reserve(now=0.0) for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])


def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    schedule = Schedule(rate=10, burst=3)
    assert [schedule.reserve(now=0.0) for _ in range(5)] == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])
    assert schedule.reserve(now=10.0) == 0.0  # idle time refills, but never beyond the burst
    assert [schedule.reserve(now=10.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])


async def _send_times(limiter: RateLimiter, virtual: VirtualTime, rcpts: list[str]) -> list[float]:
    """Send to each recipient concurrently; the virtual time at which each one went."""
    transport = MemoryTransport(rate_limiter=limiter)
    transport.concurrency = len(rcpts)
    times: dict[str, float] = {}

    async def send(index: int, rcpt: str) -> None:
        assert (await transport.send(sample_envelope(rcpt, index))).sent
        times[rcpt] = virtual.now - 100.0

    await virtual.run(asyncio.gather(*(send(i, r) for i, r in enumerate(rcpts))))
    return [times[rcpt] for rcpt in rcpts]


async def test_per_domain_limits_leave_other_domains_alone() -> None:
    virtual = VirtualTime()
    limiter = RateLimiter(0, {"Gmail.com": 2}, clock=virtual.clock, sleep=virtual.sleep)
    rcpts = ["a@gmail.com", "b@GMAIL.COM", "c@gmail.com", "d@yahoo.com", "e@yahoo.com"]
    assert await _send_times(limiter, virtual, rcpts) == pytest.approx([0, 0.5, 1.0, 0, 0])


async def test_a_message_waiting_for_its_domain_holds_no_global_slot() -> None:
    virtual = VirtualTime()
    limiter = RateLimiter(10, {"gmail.com": 1}, clock=virtual.clock, sleep=virtual.sleep)
    rcpts = ["a@gmail.com", "b@gmail.com", "c@web.de", "d@web.de", "e@web.de"]
    times = await _send_times(limiter, virtual, rcpts)
    assert times == pytest.approx([0.0, 1.0, 0.1, 0.2, 0.3])


async def test_a_transport_keeps_the_global_rate_in_virtual_time() -> None:
    virtual = VirtualTime()
    limiter = RateLimiter(50, clock=virtual.clock, sleep=virtual.sleep)
    rcpts = [f"c{i}@example.com" for i in range(100)]
    times = await _send_times(limiter, virtual, rcpts)
    assert sorted(times) == pytest.approx([i / 50 for i in range(100)])


async def test_real_time_waiting_is_close_to_the_rate() -> None:
    transport = MemoryTransport(rate_limiter=RateLimiter(200))
    started = time.monotonic()
    await transport.send_many([sample_envelope(f"c{i}@example.com", i) for i in range(21)])
    assert 0.09 <= time.monotonic() - started < 0.5


def test_zero_means_unlimited() -> None:
    assert RateLimiter(0, {"gmail.com": 0}).unlimited
    with pytest.raises(ValueError, match="rate > 0"):
        Schedule(rate=0)
