"""SMTP delivery over a pool of persistent aiosmtplib connections.

Connection set-up (TLS, STARTTLS, EHLO, AUTH) is aiosmtplib's. The per-message dialogue is
sent through its lower-level `execute_command` and protocol calls, for two reasons:

* Each command gets its own timeout, as RFC 5321 4.5.3.2 asks (MAIL 5 min, RCPT 5 min, DATA
  initiation 2 min, data block 3 min, DATA termination 10 min); aiosmtplib's `sendmail` has one.
* Messages built by `build_mime` (`MimeBytes`) already have CRLF line endings and no line
  starting with "."; they are written as they are, skipping aiosmtplib's two regular
  expression passes over every message and its address parsing (about 40 % of its CPU time).

After any refusal the connection is reset (RSET) before it is used again, and dropped if the
reset fails, or after a timeout or a 421: a connection is never reused dirty ("503 sender
already specified"). A pooled connection the server closed while idle is replaced
transparently: if the first commands on a reused connection find it gone (or get a 421), the
message is tried once more on a fresh connection — before any message data was sent, so
nothing can arrive twice.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Literal, cast

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

if TYPE_CHECKING:
    from mailengine.config import SmtpSettings

_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_END_OF_DATA = b".\r\n"


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
    __slots__ = ("messages", "smtp")

    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self.smtp = smtp
        self.messages = 0  # transactions completed (sent or refused) on this connection


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
            if connection.smtp.is_connected:
                return connection
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
        self.connections_opened += 1
        return _Connection(smtp)

    async def _release(self, connection: _Connection) -> None:
        """Back to the pool if it is clean and wanted; otherwise closed."""
        limit = self.options.max_messages_per_connection
        if self._closed or (limit and connection.messages >= limit):
            await self._quit(connection)
        elif connection.smtp.is_connected:
            self._idle.append(connection)

    async def _quit(self, connection: _Connection) -> None:
        try:
            if connection.smtp.is_connected:
                await connection.smtp.quit(timeout=self.options.timeouts.command)
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            pass
        finally:
            connection.smtp.close()

    async def _reset_or_drop(self, connection: _Connection) -> None:
        """RSET after a refusal; a connection that will not reset cleanly is closed."""
        smtp = connection.smtp
        if not smtp.is_connected:
            return
        try:
            reply = await smtp.execute_command(b"RSET", timeout=self.options.timeouts.command)
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            smtp.close()
            return
        if reply.code != 250:
            smtp.close()

    # One message

    async def _transaction(
        self, connection: _Connection, envelope: Envelope
    ) -> tuple[DeliveryResult, bool]:
        """Run MAIL, RCPT, DATA; the result, and whether a fresh connection may retry it."""
        try:
            code, text, stage = await self._dialogue(connection.smtp, envelope)
        except _Dropped as dropped:
            connection.smtp.close()
            stage = DATA_END if dropped.data_sent else MAIL
            result = connection_failure(str(dropped), stage=stage, message_id=envelope.message_id)
            return result, not dropped.data_sent and connection.messages > 0
        connection.messages += 1
        result = classify_reply(code, text, stage=stage, message_id=envelope.message_id)
        if code == 421:
            connection.smtp.close()
            return result, stage != DATA_END and connection.messages > 1
        if not result.sent:
            await self._reset_or_drop(connection)
        await self._release(connection)
        return result, False

    async def _dialogue(self, smtp: aiosmtplib.SMTP, envelope: Envelope) -> tuple[int, str, str]:
        """(code, text, stage) of the reply that ended the dialogue; _Dropped if it broke."""
        timeouts = self.options.timeouts
        data_sent = False
        try:
            reply = await smtp.execute_command(
                b"MAIL",
                b"FROM:<" + envelope.mail_from.encode("ascii") + b">",
                timeout=timeouts.mail,
            )
            if reply.code != 250:
                return reply.code, reply.message, MAIL
            reply = await smtp.execute_command(
                b"RCPT", b"TO:<" + envelope.rcpt_to.encode("ascii") + b">", timeout=timeouts.rcpt
            )
            if reply.code not in (250, 251):
                return reply.code, reply.message, RCPT
            reply = await smtp.execute_command(b"DATA", timeout=timeouts.data_init)
            if reply.code != 354:
                return reply.code, reply.message, DATA
            protocol = smtp.protocol
            if protocol is None or smtp.transport is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost after DATA")
            data_sent = True
            protocol._response_pending = True  # as aiosmtplib does: an early reply is kept
            protocol.write(_wire_form(envelope.data))
            if cast(asyncio.WriteTransport, smtp.transport).get_write_buffer_size():
                await asyncio.wait_for(protocol._drain_helper(), timeouts.data_block)
            reply = await protocol.read_response(timeout=timeouts.data_end)
            return reply.code, reply.message, DATA_END
        except (TimeoutError, aiosmtplib.SMTPTimeoutError) as error:
            raise _Dropped(f"no reply in time: {error}", data_sent=data_sent) from error
        except (aiosmtplib.SMTPServerDisconnected, OSError) as error:
            raise _Dropped(f"connection lost: {error}", data_sent=data_sent) from error


def _wire_form(data: bytes) -> bytes:
    """The DATA payload: CRLF line endings, leading dots doubled, the final "." line."""
    if not isinstance(data, MimeBytes):
        data = _LEADING_DOT.sub(b"..", _ANY_LINE_END.sub(b"\r\n", data))
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
    return data + _END_OF_DATA
