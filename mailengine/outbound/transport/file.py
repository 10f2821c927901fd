"""A transport that writes every message as one `.eml` file in a Maildir (for development)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mailengine.outbound.transport.base import DeliveryResult, DeliveryStatus, Envelope, Transport
from mailengine.outbound.transport.maildir import MaildirWriter
from mailengine.outbound.transport.ratelimit import RateLimiter
from mailengine.outbound.transport.replies import connection_failure


class MaildirTransport(Transport):
    """Writes to `<directory>/new/*.eml` with the envelope as trace headers in front.

    A full disk or a permission problem defers the message (it can be written later).
    """

    concurrency = 4

    def __init__(
        self, directory: Path, *, fsync: bool = False, rate_limiter: RateLimiter | None = None
    ) -> None:
        super().__init__(rate_limiter=rate_limiter, destination=str(directory))
        self.writer = MaildirWriter(directory, fsync=fsync)

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        try:
            path = await asyncio.to_thread(
                self.writer.deliver, envelope.mail_from, [envelope.rcpt_to], envelope.data
            )
        except OSError as error:
            return connection_failure(
                f"cannot write into {self.writer.directory}: {error.strerror}",
                stage="file",
                message_id=envelope.message_id,
            )
        return DeliveryResult(
            status=DeliveryStatus.SENT,
            message_id=envelope.message_id,
            reply=f"written to {path.name}",
            stage="file",
        )
