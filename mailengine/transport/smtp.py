"""SMTP delivery over a pool of persistent connections.

aiosmtplib opens each connection (TCP or implicit TLS, greeting, EHLO, STARTTLS, AUTH); the
mail transactions then run over `SmtpWire`, which takes the connection over, because:

* With PIPELINING (RFC 2920), which nearly every server offers, MAIL, RCPT and DATA go in one
  packet and their replies are read together: two round trips per message instead of four.
  aiosmtplib's protocol keeps a single reply and drops data that arrives before it is read,
  so it cannot read pipelined replies.
* Each command gets its own timeout, as RFC 5321 4.5.3.2 asks (MAIL 5 min, RCPT 5 min, DATA
  initiation 2 min, data block 3 min, DATA termination 10 min).
* Messages built by `build_mime` (`MimeBytes`) already have CRLF line endings and no line
  starting with "."; they are written as they are, with no regular-expression pass.

After any refusal the connection is reset (RSET) before it is used again, and dropped if the
reset fails, or after a timeout or a 421: a connection is never reused dirty ("503 sender
already specified"). A pooled connection the server closed while idle (or that got a reply
nobody asked for, such as "421 idle timeout") is replaced transparently: if the first replies
on a reused connection find it gone (or say 421), the message is tried once more on a fresh
connection — before any message data was sent, so nothing can arrive twice.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Literal

import aiosmtplib

from mailengine.message import MimeBytes
from mailengine.transport.base import DeliveryResult, Envelope, Transport
from mailengine.transport.ratelimit import RateLimiter
from mailengine.transport.replies import (
    CONNECT,
    DATA,
    DATA_END,
    MAIL,
    RCPT,
    classify_reply,
    connection_failure,
)
from mailengine.transport.smtp_wire import ConnectionLost, Reply, ReplyTimeout, SmtpWire

if TYPE_CHECKING:
    from mailengine.config import SmtpSettings

_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_END_OF_DATA = b".\r\n"
# The replies to MAIL, RCPT and DATA that let a transaction go on.
_ENVELOPE_ACCEPTS = ((MAIL, (250,)), (RCPT, (250, 251)), (DATA, (354,)))


@dataclass(frozen=True)
class SmtpTimeouts:
    """Seconds to wait for each reply; defaults are RFC 5321 4.5.3.2's minimums."""

    connect: float = 300.0  # TCP, TLS, greeting, EHLO, STARTTLS, AUTH (each)
    mail: float = 300.0
    rcpt: float = 300.0
    data_init: float = 120.0
    data_block: float = 180.0  # for the server to take the message bytes
    data_end: float = 600.0  # for the reply to the final "."
    command: float = 300.0  # RSET, QUIT

    def capped(self, seconds: float) -> SmtpTimeouts:
        """Every timeout at most `seconds` (config: smtp.timeout_seconds)."""
        return replace(self, **{f.name: min(getattr(self, f.name), seconds) for f in fields(self)})


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


class _Dropped(Exception):
    """The connection broke during a transaction."""

    def __init__(self, reason: str, *, data_sent: bool) -> None:
        super().__init__(reason)
        self.data_sent = data_sent


class SmtpTransport(Transport):
    """Sends each envelope over one of at most `options.connections` pooled connections."""

    def __init__(self, options: SmtpOptions, *, rate_limiter: RateLimiter | None = None) -> None:
        super().__init__(rate_limiter=rate_limiter)
        if options.connections < 1:
            raise ValueError("an SMTP transport needs at least one connection")
        self.options = options
        self.concurrency = options.connections
        self.connections_opened = 0
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(options.connections)
        self._local_hostname = options.local_hostname

    @classmethod
    def from_settings(
        cls, settings: SmtpSettings, *, rate_limiter: RateLimiter | None = None
    ) -> SmtpTransport:
        if rate_limiter is None and (settings.rate_per_second or settings.per_domain_rate):
            rate_limiter = RateLimiter(settings.rate_per_second, settings.per_domain_rate)
        return cls(SmtpOptions.from_settings(settings), rate_limiter=rate_limiter)

    # The template's hooks

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        async with self._slots:
            connection = self._take_idle()
            reused = connection is not None
            if connection is None:
                opened = await self._open(envelope.message_id)
                if isinstance(opened, DeliveryResult):
                    return opened
                connection = opened
            result, retry = await self._transaction(connection, envelope)
            if retry and reused:
                opened = await self._open(envelope.message_id)
                if isinstance(opened, DeliveryResult):
                    return opened
                result, _ = await self._transaction(opened, envelope)
            return result

    async def _close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(connection) for connection in idle))

    # Connections

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.wire.usable:
                return connection
            connection.close()
        return None

    async def _open(self, message_id: str) -> _Connection | DeliveryResult:
        options = self.options
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        smtp = aiosmtplib.SMTP(
            hostname=options.host,
            port=options.port,
            use_tls=options.tls == "tls",
            start_tls=options.tls == "starttls",
            tls_context=options.tls_context,
            username=options.username,
            password=options.password,
            local_hostname=self._local_hostname,
            timeout=options.timeouts.connect,
        )
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except aiosmtplib.SMTPResponseException as error:
            smtp.close()
            return classify_reply(error.code, error.message, stage=CONNECT, message_id=message_id)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            smtp.close()
            where = f"{options.host}:{options.port}"
            return connection_failure(
                f"cannot connect to {where}: {error}", stage=CONNECT, message_id=message_id
            )
        if smtp.transport is None or not smtp.is_connected:
            smtp.close()
            return connection_failure(
                "the server closed the connection after EHLO", stage=CONNECT, message_id=message_id
            )
        self.connections_opened += 1
        wire = SmtpWire.take_over(smtp.transport)
        return _Connection(smtp, wire, smtp.supports_extension("pipelining"))

    async def _release(self, connection: _Connection) -> None:
        """Back to the pool if it is clean and wanted; otherwise closed."""
        limit = self.options.max_messages_per_connection
        if self._closed or (limit and connection.messages >= limit):
            await self._quit(connection)
        elif connection.wire.usable:
            self._idle.append(connection)
        else:
            connection.close()

    async def _quit(self, connection: _Connection) -> None:
        try:
            if connection.wire.usable:
                connection.wire.send(b"QUIT\r\n", 1)
                await connection.wire.reply(self.options.timeouts.command)
        except (ConnectionLost, ReplyTimeout, OSError):
            pass
        finally:
            connection.close()

    async def _reset_or_drop(self, connection: _Connection) -> None:
        """RSET after a refusal; a connection that will not reset cleanly is closed."""
        wire = connection.wire
        if not wire.usable:
            connection.close()
            return
        try:
            wire.send(b"RSET\r\n", 1)
            reply = await wire.reply(self.options.timeouts.command)
        except (ConnectionLost, ReplyTimeout, OSError):
            connection.abort()
            return
        if reply.code != 250:
            connection.close()

    # One message

    async def _transaction(
        self, connection: _Connection, envelope: Envelope
    ) -> tuple[DeliveryResult, bool]:
        """Run MAIL, RCPT, DATA; the result, and whether a fresh connection may retry it."""
        try:
            code, text, stage = await self._dialogue(connection, envelope)
        except _Dropped as dropped:
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
            await self._reset_or_drop(connection)
        await self._release(connection)
        return result, False

    async def _dialogue(self, connection: _Connection, envelope: Envelope) -> tuple[int, str, str]:
        """(code, text, stage) of the reply that ended the dialogue; _Dropped if it broke."""
        timeouts = self.options.timeouts
        wire = connection.wire
        mail = b"MAIL FROM:<" + envelope.mail_from.encode("ascii") + b">\r\n"
        rcpt = b"RCPT TO:<" + envelope.rcpt_to.encode("ascii") + b">\r\n"
        data_sent = False
        try:
            if connection.pipelining:
                refusal = await self._pipelined_envelope(wire, mail, rcpt)
            else:
                refusal = await self._stepwise_envelope(wire, mail, rcpt)
            if refusal is not None:
                return refusal
            data_sent = True
            wire.send(_wire_form(envelope.data), 1)
            await wire.drain(timeouts.data_block)
            reply = await wire.reply(timeouts.data_end)
            return reply.code, reply.text, DATA_END
        except ReplyTimeout as error:
            raise _Dropped(f"no reply in time: {error}", data_sent=data_sent) from error
        except (ConnectionLost, OSError) as error:
            raise _Dropped(f"connection lost: {error}", data_sent=data_sent) from error

    async def _stepwise_envelope(
        self, wire: SmtpWire, mail: bytes, rcpt: bytes
    ) -> tuple[int, str, str] | None:
        """MAIL, RCPT and DATA one after the other; the refusal, or None after 354."""
        replies: list[Reply] = []
        for command, wait in zip((mail, rcpt, b"DATA\r\n"), self._envelope_waits(), strict=True):
            wire.send(command, 1)
            replies.append(await wire.reply(wait))
            refusal = _first_refusal(replies)
            if refusal is not None:
                return refusal
        return None

    def _envelope_waits(self) -> tuple[float, float, float]:
        """How long to wait for the replies to MAIL, RCPT and DATA."""
        timeouts = self.options.timeouts
        return timeouts.mail, timeouts.rcpt, timeouts.data_init

    async def _pipelined_envelope(
        self, wire: SmtpWire, mail: bytes, rcpt: bytes
    ) -> tuple[int, str, str] | None:
        """MAIL, RCPT and DATA in one write (RFC 2920); the first refusal, or None after 354."""
        wire.send(mail + rcpt + b"DATA\r\n", 3)
        replies: list[Reply] = []
        try:
            for wait in self._envelope_waits():
                replies.append(await wire.reply(wait))
        except (ConnectionLost, ReplyTimeout):
            # A refusal read before the break explains it ("421 closing", then gone).
            refusal = _first_refusal(replies)
            if refusal is None:
                raise
            return refusal
        refusal = _first_refusal(replies)
        if refusal is not None and replies[2].code == 354:
            # DATA accepted although MAIL or RCPT was not (RFC 2920 3.1): send an empty
            # message's end so that nothing is delivered, then report the refusal.
            try:
                wire.send(b".\r\n", 1)
                await wire.reply(self.options.timeouts.data_end)
            except (ConnectionLost, ReplyTimeout):
                wire.abort()  # the refusal stands; this connection is not reused
        return refusal


def _first_refusal(replies: list[Reply]) -> tuple[int, str, str] | None:
    """(code, text, stage) of the first reply to MAIL, RCPT, DATA that ends the transaction."""
    for reply, (stage, accepted) in zip(replies, _ENVELOPE_ACCEPTS, strict=False):
        if reply.code not in accepted:
            return reply.code, reply.text, stage
    return None


def _wire_form(data: bytes) -> bytes:
    """The DATA payload: CRLF line endings, leading dots doubled, the final "." line."""
    if not isinstance(data, MimeBytes):
        data = _LEADING_DOT.sub(b"..", _ANY_LINE_END.sub(b"\r\n", data))
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
    return data + _END_OF_DATA
