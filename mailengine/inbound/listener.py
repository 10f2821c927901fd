"""The inbound SMTP listener (aiosmtpd): takes mail for the support and bounce addresses.

It runs on the caller's event loop (`await listener.start()` ... `await listener.stop()`).
A message is committed to the database before the `250` goes out; acting on it is the
pipeline worker's job, woken right after. Recipients that are not ours get `550`, a message
over `inbound.smtp.max_message_bytes` gets aiosmtpd's `552`, and a database that cannot take
the message gets `451` so the sending server keeps it and tries again.

At most `inbound.smtp.max_sessions` sessions are open at once; a connection beyond them is
greeted with `421` and closed, reading nothing, so memory stays within that many sessions'
buffers. aiosmtpd closes a session that sends no command for
`inbound.smtp.command_timeout_seconds`, or whose message data takes longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailengine.config import InboundSmtpSettings
from mailengine.inbound.pipeline import InboundPipeline

log = logging.getLogger(__name__)


class _SessionSMTP(SMTP):
    """aiosmtpd's SMTP with a line length limit per server instead of RFC 5321's 1,001, that
    gives its place back to the listener when its connection ends.

    aiosmtpd keeps every piece of a line of message data that overruns the limit until the
    line ends (1.4.6): a client sending data without ever a CRLF would grow one session's
    memory without bound. A line longer than the limit can only be refused, so the session is
    closed as soon as one is.
    """

    def __init__(
        self,
        handler: Any,
        *,
        line_length_limit: int,
        on_close: Callable[[SMTP], None],
        **options: Any,
    ) -> None:
        # aiosmtpd sizes its stream reader from this attribute inside __init__.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **options)
        self._on_close = on_close
        self._line_bytes = 0  # received since the last CRLF
        self._after_cr = False

    def data_received(self, data: bytes) -> None:
        end = data.rfind(b"\r\n")
        if end >= 0:
            self._line_bytes = len(data) - end - 2
        elif self._after_cr and data.startswith(b"\n"):
            self._line_bytes = len(data) - 1
        else:
            self._line_bytes += len(data)
        self._after_cr = data.endswith(b"\r")
        transport = self.transport
        if self._line_bytes > self.line_length_limit and transport is not None:
            peer = self.session.peer if self.session is not None else None
            log.warning("inbound SMTP: a line of over %d bytes from %s; session closed",
                        self.line_length_limit, peer)  # fmt: skip
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"500 5.5.2 line too long, closing the connection\r\n")
            transport.close()
            return
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._on_close(self)


class _TooManySessions(asyncio.Protocol):
    """Answers a connection over the limit with 421 and closes it, reading nothing."""

    def __init__(self, hostname: str) -> None:
        self.greeting = f"421 {hostname} too many connections, try later\r\n".encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.greeting)
        transport.close()  # after the greeting is written


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
        refusal = self.pipeline.refusal(address)
        if refusal is not None:
            return refusal
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
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.hostname = hostname or socket.getfqdn()
        self.handler = SupportMailHandler(pipeline)
        self.refused = 0  # connections turned away with 421 since start
        self._full = False
        self._server: asyncio.Server | None = None
        # Sessions whose connection has not ended. Weak: a connection that failed before
        # it was made never calls back, and must not keep its place.
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    def _protocol(self) -> asyncio.Protocol:
        if len(self._sessions) >= self.settings.max_sessions:
            if not self._full:  # one warning per time the limit is reached
                log.warning(
                    "inbound SMTP: %d sessions open (inbound.smtp.max_sessions); "
                    "refusing new connections with 421",
                    len(self._sessions),
                )
                self._full = True
            self.refused += 1
            return _TooManySessions(self.hostname)
        protocol = _SessionSMTP(
            self.handler,
            on_close=self._session_closed,
            # A line may be as long as the whole message, plus a transparency dot and CRLF.
            line_length_limit=self.settings.max_message_bytes + 3,
            data_size_limit=self.settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="mailengine inbound",
            timeout=self.settings.command_timeout_seconds,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(protocol)
        return protocol

    def _session_closed(self, protocol: SMTP) -> None:
        self._sessions.discard(protocol)
        self._full = False

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
