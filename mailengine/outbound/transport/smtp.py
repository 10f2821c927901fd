"""SMTP delivery over a pool of persistent connections.

aiosmtplib opens each connection (TCP or implicit TLS, greeting, EHLO, STARTTLS, AUTH); the
mail transactions then run over `SmtpWire`, which takes the connection over, because:

* With PIPELINING (RFC 2920), which nearly every server offers, MAIL, RCPT and DATA go in one
  packet and their replies are read together: two round trips per message instead of four.
  aiosmtplib's protocol keeps a single reply and drops data that arrives before it is read,
  so it cannot read pipelined replies.
* Each command gets its own timeout, as RFC 5321 4.5.3.2 asks (MAIL 5 min, RCPT 5 min, DATA
  initiation 2 min, data block 3 min, DATA termination 10 min), and a message as a whole gets
  `message_timeout` (connecting, waiting for a free connection and the retry included): every
  wait is the smaller of its stage's timeout and what is left (`deadline`).

The transaction itself is `smtp_dialogue`; opening a session, step by step, `smtp_connect`.

After any refusal the connection is reset (RSET) before it is used again, and dropped if the
reset fails, or after a timeout or a 421: a connection is never reused dirty ("503 sender
already specified"). A pooled connection the server closed while idle (or that got a reply
nobody asked for, such as "421 idle timeout") is replaced transparently: if the first replies
on a reused connection find it gone (or say 421), the message is tried once more on a fresh
connection — before any message data was sent, so nothing can arrive twice.

After repeated connection-level failures the whole server is backed off (`backoff`): its
messages are deferred at once, without a connection attempt each, until a probe gets through.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import aiosmtplib

from mailengine.delivery_faults import TIMEOUT
from mailengine.outbound.transport.backoff import Admission, DestinationBackoff
from mailengine.outbound.transport.base import DeliveryResult, Envelope, Transport
from mailengine.outbound.transport.deadline import Deadline
from mailengine.outbound.transport.ratelimit import RateLimiter
from mailengine.outbound.transport.replies import (
    CONNECT,
    DATA_END,
    MAIL,
    classify_reply,
    connection_failure,
)
from mailengine.outbound.transport.smtp_connect import SessionFailed, SessionOpener
from mailengine.outbound.transport.smtp_dialogue import Dropped, SmtpTimeouts, run_dialogue
from mailengine.outbound.transport.smtp_wire import ConnectionLost, ReplyTimeout, SmtpWire

if TYPE_CHECKING:
    from mailengine.config import SmtpSettings

__all__ = ["SmtpOptions", "SmtpTimeouts", "SmtpTransport"]

POOL = "pool"  # the stage of a message that found no free connection in time
# Beyond the message's deadline, a send may take this long: closing a connection, scheduling.
_SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class SmtpOptions:
    """Where and how to connect. `tls`: none | starttls | tls (implicit TLS, port 465)."""

    host: str = "127.0.0.1"
    port: int = 25
    tls: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    connections: int = 4
    timeouts: SmtpTimeouts = field(default_factory=SmtpTimeouts)
    tls_context: ssl.SSLContext | None = None  # default: system CAs, hostname checked
    local_hostname: str | None = None  # EHLO name; default: this machine's FQDN
    max_messages_per_connection: int = 0  # 0 = no limit
    message_timeout: float = 120.0  # one message, connecting and the one retry included
    backoff_after: int = 5  # connection-level failures in a row that back the server off
    backoff_first_pause: float = 5.0  # seconds; doubling after each failed probe ...
    backoff_longest_pause: float = 300.0  # ... up to this

    @classmethod
    def from_settings(cls, settings: SmtpSettings) -> SmtpOptions:
        return cls(
            host=settings.host,
            port=settings.port,
            tls=settings.tls,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            connections=settings.connections,
            timeouts=SmtpTimeouts().capped(settings.timeout_seconds),
            message_timeout=settings.message_timeout_seconds,
        )


class _Connection:
    __slots__ = ("messages", "pipelining", "smtp", "wire")

    def __init__(self, smtp: aiosmtplib.SMTP, wire: SmtpWire, pipelining: bool) -> None:
        self.smtp = smtp  # kept for closing: aiosmtplib holds a lock while connected
        self.wire = wire
        self.pipelining = pipelining
        self.messages = 0  # transactions completed (sent or refused) on this connection

    def close(self) -> None:
        self.wire.close()
        self.smtp.close()

    def abort(self) -> None:
        self.wire.abort()
        self.smtp.close()


class SmtpTransport(Transport):
    """Sends each envelope over one of at most `options.connections` pooled connections.

    `clock` (monotonic seconds) times the back-off and the fault log; waits on the server run
    on the event loop's clock.
    """

    def __init__(
        self,
        options: SmtpOptions,
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if options.connections < 1:
            raise ValueError("an SMTP transport needs at least one connection")
        if options.message_timeout <= 0:
            raise ValueError(f"message_timeout must be above 0, not {options.message_timeout}")
        where = f"{options.host}:{options.port}"
        super().__init__(rate_limiter=rate_limiter, clock=clock, destination=where)
        self.options = options
        self.concurrency = options.connections
        self.connections_opened = 0
        self.backoff = DestinationBackoff(
            where,
            after=options.backoff_after,
            first_pause=options.backoff_first_pause,
            longest_pause=options.backoff_longest_pause,
            clock=clock,
        )
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(options.connections)
        self._opener = SessionOpener(
            host=options.host,
            port=options.port,
            tls=options.tls,
            tls_context=options.tls_context,
            username=options.username,
            password=options.password,
            local_hostname=options.local_hostname,
            connect_timeout=options.timeouts.connect,
        )

    @classmethod
    def from_settings(
        cls, settings: SmtpSettings, *, rate_limiter: RateLimiter | None = None
    ) -> SmtpTransport:
        if rate_limiter is None and (settings.rate_per_second or settings.per_domain_rate):
            rate_limiter = RateLimiter(settings.rate_per_second, settings.per_domain_rate)
        return cls(SmtpOptions.from_settings(settings), rate_limiter=rate_limiter)

    @property
    def longest_send_seconds(self) -> float:
        """`message_timeout` bounds everything `_deliver` waits for: a free connection,
        connecting, the transaction, the one retry on a fresh connection, RSET and QUIT.
        Before it, `send` waits for the rate limiter: at most `concurrency` sends at once
        (as `send_many` and the dispatcher run them) wait at most one interval of the
        slowest domain and of the global rate each. A second covers closing and scheduling.
        """
        limiter = self.rate_limiter
        rate_wait = 0.0 if limiter is None else limiter.longest_wait(self.concurrency)
        return self.options.message_timeout + rate_wait + _SLACK_SECONDS

    # The template's hooks

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        admission = self.backoff.admit()
        if isinstance(admission, str):
            return connection_failure(admission, stage=CONNECT, message_id=envelope.message_id)
        try:
            result = await self._deliver_by(envelope, Deadline(self.options.message_timeout))
        except BaseException:  # cancelled: the server said nothing about itself
            self.backoff.abandoned(admission)
            raise
        self._tell_backoff(admission, result)
        return result

    async def _deliver_by(self, envelope: Envelope, deadline: Deadline) -> DeliveryResult:
        if self._slots.locked():
            try:
                async with asyncio.timeout(deadline.left()):
                    await self._slots.acquire()
            except TimeoutError:
                return self._no_free_connection(envelope, deadline)
            if deadline.spent:
                self._slots.release()
                return self._no_free_connection(envelope, deadline)
        else:
            await self._slots.acquire()
        try:
            return await self._deliver_on_pool(envelope, deadline)
        finally:
            self._slots.release()

    async def _deliver_on_pool(self, envelope: Envelope, deadline: Deadline) -> DeliveryResult:
        connection = self._take_idle()
        reused = connection is not None
        if connection is None:
            opened = await self._open(envelope.message_id, deadline)
            if isinstance(opened, DeliveryResult):
                return opened
            connection = opened
        result, retry = await self._transaction(connection, envelope, deadline)
        if retry and reused:
            opened = await self._open(envelope.message_id, deadline)
            if isinstance(opened, DeliveryResult):
                return opened
            result, _ = await self._transaction(opened, envelope, deadline)
        return result

    def _no_free_connection(self, envelope: Envelope, deadline: Deadline) -> DeliveryResult:
        reason = (
            f"{TIMEOUT}: no free connection to {self.backoff.destination} within "
            f"{deadline.total:g} s (all {self.options.connections} busy)"
        )
        return connection_failure(reason, stage=POOL, message_id=envelope.message_id)

    def _tell_backoff(self, admission: Admission, result: DeliveryResult) -> None:
        """Connection-level failures count towards backing the server off; a reply to a
        transaction ends it; a message that found no free connection says nothing."""
        if result.stage == POOL:
            self.backoff.abandoned(admission)
        elif result.stage == CONNECT or result.smtp_code in (None, 421):
            self.backoff.failed(result.reply, admission)
        else:
            self.backoff.answered()

    async def _close(self) -> None:
        idle, self._idle = self._idle, []
        wait = self.options.timeouts.command
        await asyncio.gather(*(self._quit(connection, wait) for connection in idle))

    # Connections

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.wire.usable:
                return connection
            connection.close()
        return None

    async def _open(self, message_id: str, deadline: Deadline) -> _Connection | DeliveryResult:
        try:
            smtp = await self._opener.open(deadline)
        except SessionFailed as failed:
            return failed.result(message_id)
        self.connections_opened += 1
        assert smtp.transport is not None  # checked by the opener
        wire = SmtpWire.take_over(smtp.transport)
        return _Connection(smtp, wire, smtp.supports_extension("pipelining"))

    async def _release(self, connection: _Connection, deadline: Deadline) -> None:
        """Back to the pool if it is clean and wanted; otherwise closed."""
        limit = self.options.max_messages_per_connection
        if self._closed or (limit and connection.messages >= limit):
            await self._quit(connection, deadline.wait(self.options.timeouts.command))
        elif connection.wire.usable:
            self._idle.append(connection)
        else:
            connection.close()

    async def _quit(self, connection: _Connection, wait: float) -> None:
        try:
            if connection.wire.usable and wait > 0:
                connection.wire.send(b"QUIT\r\n", 1)
                await connection.wire.reply(wait)
        except (ConnectionLost, ReplyTimeout, OSError):
            pass
        finally:
            connection.close()

    async def _reset_or_drop(self, connection: _Connection, deadline: Deadline) -> None:
        """RSET after a refusal; a connection that will not reset cleanly (or in the time
        left) is closed."""
        wire = connection.wire
        wait = deadline.wait(self.options.timeouts.command)
        if not wire.usable or wait <= 0:
            connection.close()
            return
        try:
            wire.send(b"RSET\r\n", 1)
            reply = await wire.reply(wait)
        except (ConnectionLost, ReplyTimeout, OSError):
            connection.abort()
            return
        if reply.code != 250:
            connection.close()

    # One message

    async def _transaction(
        self, connection: _Connection, envelope: Envelope, deadline: Deadline
    ) -> tuple[DeliveryResult, bool]:
        """Run MAIL, RCPT, DATA; the result, and whether a fresh connection may retry it."""
        try:
            code, text, stage = await run_dialogue(
                connection.wire, connection.pipelining, envelope, self.options.timeouts, deadline
            )
        except Dropped as dropped:
            connection.abort()
            stage = DATA_END if dropped.data_sent else MAIL
            result = connection_failure(str(dropped), stage=stage, message_id=envelope.message_id)
            return result, not dropped.data_sent and connection.messages > 0
        connection.messages += 1
        result = classify_reply(code, text, stage=stage, message_id=envelope.message_id)
        if code == 421:
            connection.close()
            return result, stage != DATA_END and connection.messages > 1
        if not result.sent:
            await self._reset_or_drop(connection, deadline)
        await self._release(connection, deadline)
        return result, False
