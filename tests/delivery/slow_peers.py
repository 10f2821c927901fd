"""SMTP peers for lease and flow tests: one that takes its time, one that stalls a domain.

Each records (recipient, Message-ID) per accepted message and sets `changed` whenever one
arrives, so tests wait on arrivals, not on wall time.
"""

from __future__ import annotations

import asyncio
import re

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from tests.transport.conftest import RecordingHandler

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


class ArrivalsHandler(RecordingHandler):
    """Answers each message after `pause` seconds (as a server writing to slow disks does);
    messages to `stalled_domain` get no answer after their data until `release` is set."""

    def __init__(self, pause: float = 0.0, stalled_domain: str | None = None) -> None:
        super().__init__()
        self.pause = pause
        self.stalled_domain = stalled_domain
        self.release = asyncio.Event()
        self.arrivals: list[tuple[str, str]] = []
        self.stalled: list[str] = []
        self.changed = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        assert isinstance(envelope.content, bytes)
        recipient = envelope.rcpt_tos[0]
        if recipient.rpartition("@")[2] == self.stalled_domain:
            self.stalled.append(recipient)
            self.changed.set()
            await self.release.wait()
            return "451 4.3.0 released at the end of the test"
        if self.pause:
            await asyncio.sleep(self.pause)
        found = _MESSAGE_ID.search(envelope.content.partition(b"\r\n\r\n")[0])
        self.arrivals.append((recipient, found[1].decode("ascii") if found else ""))
        self.changed.set()
        return "250 2.0.0 OK: queued"

    async def wait_for(self, count: int, within: float) -> bool:
        """Whether `count` messages (stalled ones included) have arrived within `within` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.arrivals) + len(self.stalled) < count:
            self.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return False
        return True
