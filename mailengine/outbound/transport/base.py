"""The transport contract: one template method here, delivery hooks in each transport.

`Transport.send` checks the envelope, waits for the rate limiter, calls the transport's
`_deliver` hook, counts the outcome and reports each fault (rate-limited warnings, see
`fault_log`); a transport only says how bytes reach the other side and what the reply means.
Failures come back as a `DeliveryResult`, never as an exception: an exception from `send`
means a programming or configuration error.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from mailengine.errors import DeliveryError
from mailengine.outbound.mime import OutgoingMessage
from mailengine.outbound.transport.fault_log import FaultLog
from mailengine.outbound.transport.ratelimit import RateLimiter

_FORBIDDEN_IN_ADDRESS = frozenset("<> \t\r\n\x00")


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"  # try again later: 4xx, dropped or stalled connection, timeout
    FAILED = "failed"  # permanent: 5xx


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message to one recipient: the SMTP envelope and the finished message bytes."""

    mail_from: str  # the bounce address; "" for the null sender of automatic replies
    rcpt_to: str
    data: bytes
    message_id: str

    @classmethod
    def for_message(cls, message: OutgoingMessage, data: bytes) -> Envelope:
        return cls(message.bounce_address, message.to_address, data, message.message_id)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one envelope. `hard_bounce` means: suppress this address from now on."""

    status: DeliveryStatus
    message_id: str
    smtp_code: int | None = None
    enhanced_code: str | None = None  # e.g. "5.1.1"
    reply: str = ""
    hard_bounce: bool = False
    stage: str = ""  # where it ended: pool, connect, mail, rcpt, data, data-end, file, memory

    @property
    def sent(self) -> bool:
        return self.status is DeliveryStatus.SENT


@dataclass
class TransportStats:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


class InvalidEnvelopeError(DeliveryError, ValueError):
    """An envelope address would break the SMTP command it goes into."""


class Transport(ABC):
    """Base of every transport. Safe to call `send` from many tasks at once."""

    #: How many sends may usefully run at once (an SMTP transport: its pool size).
    concurrency: int = 1

    @property
    def longest_send_seconds(self) -> float:
        """The longest one `send` can take, connecting included; a dispatcher starts a send
        only while its claim on the message outlasts this. Transports that wait on a peer
        bound every wait and say so here."""
        return 60.0

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        destination: str = "",
    ) -> None:
        """`clock`: monotonic seconds, for the fault log (and a transport's own timing);
        `destination`: where the mail goes, for log lines (host:port, a folder)."""
        self.rate_limiter = rate_limiter
        self.stats = TransportStats()
        self.faults = FaultLog(destination, clock=clock)
        self._closed = False

    async def send(self, envelope: Envelope) -> DeliveryResult:
        """Deliver one envelope; the result says sent, deferred or failed (with the reply)."""
        if self._closed:
            raise DeliveryError(f"{type(self).__name__} is closed; create a new one to send")
        check_envelope(envelope)
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire(envelope.rcpt_to.rpartition("@")[2])
        result = await self._deliver(envelope)
        self._count(result)
        if result.status is not DeliveryStatus.SENT:
            self.faults.note(result, envelope.rcpt_to)
        return result

    async def send_many(self, envelopes: Iterable[Envelope]) -> list[DeliveryResult]:
        """Send all, `concurrency` at a time; results in the order of the envelopes."""
        pending = iter(enumerate(envelopes))
        results: dict[int, DeliveryResult] = {}

        async def worker() -> None:
            for index, envelope in pending:
                results[index] = await self.send(envelope)

        await asyncio.gather(*(worker() for _ in range(max(1, self.concurrency))))
        return [results[index] for index in range(len(results))]

    async def aclose(self) -> None:
        """Release connections and files; later sends raise DeliveryError."""
        self._closed = True
        try:
            await self._close()
        finally:
            self.faults.flush()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        """Hand the bytes over and interpret the answer. Must not raise for delivery failures."""

    async def _close(self) -> None:  # noqa: B027 (a hook with nothing to do by default)
        """Release resources; override when the transport holds any."""

    def _count(self, result: DeliveryResult) -> None:
        stats = self.stats
        if result.status is DeliveryStatus.SENT:
            stats.sent += 1
        elif result.status is DeliveryStatus.DEFERRED:
            stats.deferred += 1
        else:
            stats.failed += 1
        if result.status is not DeliveryStatus.SENT:
            stats.by_stage[result.stage] = stats.by_stage.get(result.stage, 0) + 1


def check_envelope(envelope: Envelope) -> None:
    """Refuse addresses that are not plain ASCII mailboxes (they would corrupt the dialogue)."""
    for role, address in (("sender", envelope.mail_from), ("recipient", envelope.rcpt_to)):
        if not address and role == "sender":
            continue
        if (
            not address.isascii()
            or "@" not in address
            or not _FORBIDDEN_IN_ADDRESS.isdisjoint(address)
            or len(address) > 254
        ):
            raise InvalidEnvelopeError(
                f"the envelope {role} {address!r} of {envelope.message_id} is not a plain "
                "ASCII address; normalise addresses when they are stored"
            )
