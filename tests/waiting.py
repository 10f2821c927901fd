"""Waiting in tests for something to come true, never for a fixed time.

A test that sleeps a fixed time, or gives up after a tight one, fails when the machine is busy
with other work. These poll a condition often and give up only after a bound generous enough
for a machine shared with several test runs (`PATIENCE`); a run that goes well never waits
for it. `until_done` gives up only when the work stops moving, not while it is slow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PATIENCE = 120.0
"""Seconds to wait for something that takes well under a second on an idle machine."""


class NotInTime(AssertionError):
    """What a test waited for did not come true within its bound."""


async def until(
    condition: Callable[[], bool], what: str, within: float = PATIENCE, every: float = 0.01
) -> None:
    """Return as soon as `condition()` holds; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise NotInTime(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(every)


def until_blocking(
    condition: Callable[[], bool], what: str, within: float = PATIENCE, every: float = 0.05
) -> None:
    """`until` for code without an event loop (a test driving processes or threads)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise NotInTime(f"{what}: not within {within:.0f} s")
        time.sleep(every)


async def until_done(
    progress: Callable[[], int],
    target: int,
    what: str,
    stalled_after: float = PATIENCE,
    failed: Callable[[], str | None] = lambda: None,
) -> None:
    """Return once `progress()` reaches `target`. Fail when it has not moved for
    `stalled_after` seconds, or when `failed()` names a reason to stop waiting (a process
    that ended): slow work on a busy machine is waited for, stuck work is not."""
    last, moved = progress(), time.monotonic()
    while last < target:
        reason = failed()
        if reason is not None:
            raise AssertionError(f"{what}: {reason} at {last} of {target}")
        if time.monotonic() - moved > stalled_after:
            raise NotInTime(f"{what}: stuck at {last} of {target} for {stalled_after:.0f} s")
        await asyncio.sleep(0.02)
        now = progress()
        if now != last:
            last, moved = now, time.monotonic()
