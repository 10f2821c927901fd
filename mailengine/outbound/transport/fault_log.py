"""WARNING lines for deferrals and failures: one per fault class per minute, repeats counted.

`Transport.send` hands every result that is not "sent" to `FaultLog.note`. The first fault of
a class is logged at once, with an example (message, recipient domain, the reply); further
ones of that class within `interval` seconds are only counted, and the first one after it is
logged with that count ("... 41 more since the last line 60 s ago"). `flush` writes the
counts still pending (when a transport closes), so no repeat goes unmentioned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailengine.delivery_faults import fault_class

if TYPE_CHECKING:
    from mailengine.outbound.transport.base import DeliveryResult

log = logging.getLogger("mailengine.transport")
_LONGEST_REPLY = 300


@dataclass(slots=True)
class _Cause:
    logged_at: float
    repeats: int = 0  # since the line logged at `logged_at`


class FaultLog:
    """Rate-limited warnings about one transport's faults."""

    def __init__(
        self,
        destination: str = "",
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination = destination
        self.interval = interval
        self._clock = clock
        self._causes: dict[str, _Cause] = {}

    def note(self, result: DeliveryResult, recipient: str) -> None:
        """Count a deferral or failure; log it unless its class was logged within the interval."""
        cause = fault_class(result.smtp_code, result.reply)
        now = self._clock()
        seen = self._causes.get(cause)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.repeats += 1
            return
        self._causes[cause] = _Cause(now)
        example = _reply_text(result)
        domain = recipient.rpartition("@")[2]
        via = f" via {self.destination}" if self.destination else ""
        repeats = ""
        if seen is not None and seen.repeats:
            repeats = f"; {seen.repeats} more since the last line {now - seen.logged_at:.0f} s ago"
        log.warning(
            "%s: %s %s to %s%s: %s%s",
            cause,
            result.status.value,
            result.message_id,
            domain,
            via,
            example,
            repeats,
        )

    def flush(self) -> None:
        """Log the repeats not yet mentioned (when the transport closes)."""
        now = self._clock()
        via = f" via {self.destination}" if self.destination else ""
        for cause, seen in self._causes.items():
            if seen.repeats:
                log.warning(
                    "%s: %d more%s since the last line %.0f s ago",
                    cause,
                    seen.repeats,
                    via,
                    now - seen.logged_at,
                )
                seen.repeats = 0
                seen.logged_at = now


def _reply_text(result: DeliveryResult) -> str:
    code = str(result.smtp_code) if result.smtp_code else ""
    text = f"{code} {result.reply}".strip()  # the reply begins with its enhanced code
    text = " ".join(text.split())  # one line, even for a multi-line reply
    return text[:_LONGEST_REPLY] + ("..." if len(text) > _LONGEST_REPLY else "")
