"""The time one message may still take: each wait is its stage's timeout or what is left.

RFC 5321 4.5.3.2 gives every stage of a transaction its own timeout (up to ten minutes for the
reply to the final "."); a message's total (`smtp.message_timeout_seconds`) bounds the sum, so
that a server that stalls after DATA holds a connection, and a dispatcher's claim, for a known
time. Measured with `time.monotonic` (asyncio's own clock; asking the running loop for its
time costs several times more per message).
"""

from __future__ import annotations

import time


class Deadline:
    """Started when a message's send begins; `wait` is how long the next stage may take."""

    __slots__ = ("ends_at", "total")

    def __init__(self, seconds: float) -> None:
        self.ends_at = time.monotonic() + seconds
        self.total = seconds

    def left(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self.ends_at - time.monotonic())

    def wait(self, stage_timeout: float) -> float:
        """How long to wait at a stage whose own timeout is `stage_timeout`."""
        return min(stage_timeout, self.left())

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.ends_at
