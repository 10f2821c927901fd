"""How many events and due enrollments the engine's next round takes.

On SQLite a round holds the file's one write lock while it works. While the API's writers
queue for it (`Database.writers_waiting`), rounds shrink, halving down to `YIELDING_BATCH`; for
`BUSY_API_SECONDS` after the last such wait they grow to `BUSY_API_BATCH` at most; after that
they grow back by an eighth a round to the configured size, so a backlog goes in large rounds
and the API's answers are not held up behind them. At 500 orders/s, rounds of 500 kept the
API's p99 near 300 ms; rounds let grow back to 500 whenever no writer happened to wait at
the moment a round ended held the lock 40-150 ms (p99 and most) and made most of the API's
waits over 30 ms.

May import: nothing of mailengine's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

YIELDING_BATCH = 5  # 5 orders' enrolling and planning hold the lock for a few milliseconds
BUSY_API_SECONDS = 2.0
BUSY_API_BATCH = 32  # ~10 ms of the lock a round; 32 a round every 10 ms outpace 500 orders/s


class RoundSizes:
    """The size of the engine's next round, from whether the API's writers waited."""

    def __init__(self, most: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.most = most
        self.next = most
        self._clock = clock
        self._waited_at = float("-inf")

    def after_round(self, writers_waited: bool) -> None:
        """Size the next round after one that took `self.next`."""
        taken = self.next
        now = self._clock()
        if writers_waited:
            self._waited_at = now
            self.next = max(min(YIELDING_BATCH, self.most), taken // 2)
            return
        most = self.most
        if now - self._waited_at < BUSY_API_SECONDS:
            most = min(most, BUSY_API_BATCH)
        self.next = min(most, taken + taken // 8 + 1)
