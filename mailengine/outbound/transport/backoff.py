"""Backing off a mail server that fails connection after connection.

Without it, a refusing, dropping or stalling server costs one new connection per message:
thousands of connection attempts (and of waits for a greeting that never comes) a minute.
After `after` connection-level failures in a row (refused, connect or greeting timeouts,
drops, broken STARTTLS, 421 and any other refusal of the set-up), every message is deferred
at once, with a reply naming the cause, for a pause that starts at `first_pause` and doubles
up to `longest_pause`. When a pause ends, one message goes as a probe while the others are
still deferred: a probe that fails starts the next, longer pause; any message the server
answers ends the back-off.

Time is a monotonic clock passed in, so tests freeze or advance it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

from mailengine.delivery_faults import BACKED_OFF

log = logging.getLogger("mailengine.transport")


class Admission(Enum):
    GO = "go"
    PROBE = "probe"  # the one message that tries the server again after a pause


class DestinationBackoff:
    """The state of one destination (host:port) of a transport."""

    def __init__(
        self,
        destination: str,
        *,
        after: int = 5,
        first_pause: float = 5.0,
        longest_pause: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if after < 1 or first_pause <= 0 or longest_pause < first_pause:
            raise ValueError(
                f"a back-off needs after >= 1 and 0 < first_pause <= longest_pause, not "
                f"{after}, {first_pause}, {longest_pause}"
            )
        self.destination = destination
        self.after = after
        self.first_pause = first_pause
        self.longest_pause = longest_pause
        self._clock = clock
        self.failures = 0  # connection-level failures in a row
        self.pauses = 0  # pauses since the server last answered
        self._pause = first_pause  # the length of the next pause
        self._paused_until: float | None = None
        self._probing = False
        self._last_cause = ""

    @property
    def backing_off(self) -> bool:
        return self._paused_until is not None

    def admit(self) -> Admission | str:
        """GO, PROBE, or the reply of a message deferred at once."""
        if self._paused_until is None:
            return Admission.GO
        now = self._clock()
        if now >= self._paused_until and not self._probing:
            self._probing = True
            return Admission.PROBE
        if self._probing:
            when = "a probe is under way"
        else:
            when = f"next try in {self._paused_until - now:.0f} s"
        return (
            f"{BACKED_OFF}: {self.failures} connection failures in a row to "
            f"{self.destination}; {when}; the last: {self._last_cause}"
        )

    def failed(self, cause: str, admission: Admission) -> None:
        """A message ended in a connection-level failure."""
        self.failures += 1
        self._last_cause = cause[:300]
        if self.failures < self.after:
            return
        if self._paused_until is None or admission is Admission.PROBE:
            # Entering a pause, or the probe failed: the next pause is longer. Messages that
            # were under way when a pause began only count.
            pause = self._pause
            self._paused_until = self._clock() + pause
            self._pause = min(pause * 2, self.longest_pause)
            self._probing = False
            self.pauses += 1
            log.log(
                logging.WARNING if self.pauses == 1 else logging.INFO,
                "%s: %d connection failures in a row to %s; deferring its mail for %.0f s; "
                "the last: %s",
                BACKED_OFF,
                self.failures,
                self.destination,
                pause,
                self._last_cause,
            )

    def answered(self) -> None:
        """The server answered a transaction: whatever it said, it is reachable."""
        if self._paused_until is not None:
            log.info(
                "%s reachable again after %d connection failures; sending resumes",
                self.destination,
                self.failures,
            )
        self.failures = 0
        self.pauses = 0
        self._pause = self.first_pause
        self._paused_until = None
        self._probing = False

    def abandoned(self, admission: Admission) -> None:
        """A message ended without a word from the server (cancelled, or no free connection)."""
        if admission is Admission.PROBE:
            self._probing = False
