"""The inbound SMTP listener (aiosmtpd): takes mail for the support and bounce addresses.

It runs on the caller's event loop (`await listener.start()` ... `await listener.stop()`).
A message is committed to the database before the `250` goes out; acting on it is the
pipeline worker's job, woken right after. Recipients that are not ours get `550`, a message
over `inbound.smtp.max_message_bytes` gets aiosmtpd's `552`, and a database that cannot take
the message gets `451` so the sending server keeps it and tries again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailengine.config import InboundSmtpSettings
from mailengine.inbound.pipeline import InboundPipeline

log = logging.getLogger(__name__)


class _LongLineSMTP(SMTP):
    """aiosmtpd's SMTP with a line length limit per server instead of RFC 5321's 1,001."""

    def __init__(self, handler: Any, *, line_length_limit: int, **options: Any) -> None:
        # aiosmtpd sizes its stream reader from this attribute inside __init__.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **options)


class SupportMailHandler:
    """aiosmtpd handler: refuse strangers' recipients, store accepted messages, wake the worker."""

    def __init__(self, pipeline: InboundPipeline) -> None:
        self.pipeline = pipeline

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.pipeline.accepts(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
        mail_from = (envelope.mail_from or "").strip().strip("<>")
        try:
            stored = await asyncio.to_thread(
                self.pipeline.store,
                raw,
                source="smtp",
                envelope_from=mail_from,
                envelope_to=tuple(envelope.rcpt_tos),
            )
        except Exception:
            log.exception("could not store an inbound message from %s", session.peer)
            return "451 4.3.0 cannot store the message now, please try again later"
        self.pipeline.notify()
        return f"250 2.0.0 OK: stored as {stored.id}"


class InboundSmtpListener:
    """The listening socket; `port` is the one bound (useful with port 0 in tests)."""

    def __init__(
        self,
        pipeline: InboundPipeline,
        settings: InboundSmtpSettings,
        *,
        hostname: str | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.hostname = hostname or socket.getfqdn()
        self.timeout = timeout
        self.handler = SupportMailHandler(pipeline)
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def _protocol(self) -> SMTP:
        protocol = _LongLineSMTP(
            self.handler,
            # A line may be as long as the whole message, plus a transparency dot and CRLF.
            line_length_limit=self.settings.max_message_bytes + 3,
            data_size_limit=self.settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="mailengine inbound",
            timeout=self.timeout,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(protocol)
        return protocol

    async def start(self) -> None:
        """Bind and listen on `inbound.smtp.host:port`."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.settings.host, self.settings.port
        )
        log.info("inbound SMTP listening on %s:%s", self.settings.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the inbound SMTP listener is not started")
        address: Any = self._server.sockets[0].getsockname()
        return int(address[1])

    async def stop(self) -> None:
        """Stop listening and close open sessions (a message not yet stored was not accepted)."""
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()
        self._server = None
