"""A transport that keeps messages in a list: the test double for code that sends mail.

transport = MemoryTransport(replies={"gone@example.com": (550, "5.1.1 no such user")})
... run the code under test ...
assert [e.rcpt_to for e in transport.outbox] == ["jane@example.com"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from mailengine.outbound.transport.base import DeliveryResult, Envelope, Transport
from mailengine.outbound.transport.ratelimit import RateLimiter
from mailengine.outbound.transport.replies import RCPT, classify_reply


class MemoryTransport(Transport):
    """Accepted envelopes go to `outbox`; `replies` maps a recipient to an SMTP (code, text)
    answer given instead, classified as a real server's reply to RCPT would be.
    """

    concurrency = 8

    def __init__(
        self,
        *,
        replies: Mapping[str, tuple[int, str]] | None = None,
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rate_limiter=rate_limiter, clock=clock, destination="memory")
        self.outbox: list[Envelope] = []
        self.rejected: list[tuple[Envelope, DeliveryResult]] = []
        self.replies = {address.lower(): reply for address, reply in (replies or {}).items()}

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        code, text = self.replies.get(envelope.rcpt_to.lower(), (250, "2.0.0 kept in memory"))
        stage = "memory" if code < 400 else RCPT
        result = classify_reply(code, text, stage=stage, message_id=envelope.message_id)
        if result.sent:
            self.outbox.append(envelope)
        else:
            self.rejected.append((envelope, result))
        return result

    def clear(self) -> None:
        self.outbox.clear()
        self.rejected.clear()
