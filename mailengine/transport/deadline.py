"""The time one message may still take: each wait is its stage's timeout or what is left.

RFC 5321 4.5.3.2 gives every stage of a transaction its own timeout (up to ten minutes for the
reply to the final "."); a message's total (`smtp.message_timeout_seconds`) bounds the sum, so
that a server that stalls after DATA holds a connection, and a dispatcher's claim, for a known
time. Measured on the event loop's clock, the one its timers run on.
"""

from __future__ import annotations

import asyncio


class Deadline:
    """Started when a message's send begins; `wait` is how long the next stage may take."""

    __slots__ = ("_ends_at", "_loop", "total")

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._ends_at = self._loop.time() + seconds
        self.total = seconds

    def left(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self._ends_at - self._loop.time())

    def wait(self, stage_timeout: float) -> float:
        """How long to wait at a stage whose own timeout is `stage_timeout`."""
        return min(stage_timeout, self.left())

    @property
    def spent(self) -> bool:
        return self._loop.time() >= self._ends_at
