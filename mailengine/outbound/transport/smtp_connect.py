"""Opening an SMTP session: TCP (or implicit TLS), greeting, EHLO, STARTTLS, AUTH, in time.

aiosmtplib does each step; they are taken one by one so that a failure names its step and
its class ("TLS failed: ...", "timeout: ...", "connection refused: ..."; see
`mailengine.delivery_faults`), and the whole set-up fits in what is left of the message's
deadline (each step also within the connect timeout).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiosmtplib

from mailengine.delivery_faults import (
    CANNOT_CONNECT,
    CONNECTION_DROPPED,
    CONNECTION_REFUSED,
    TIMEOUT,
    TLS_FAILED,
)
from mailengine.outbound.transport.base import DeliveryResult
from mailengine.outbound.transport.deadline import Deadline
from mailengine.outbound.transport.replies import CONNECT, classify_reply, connection_failure

CONNECTING = "connecting"  # TCP (and implicit TLS) and the greeting
EHLO = "EHLO"
STARTTLS = "STARTTLS"
AUTH = "AUTH"


class SessionFailed(Exception):
    """The session could not be set up; `result(message_id)` says why, for one message."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def result(self, message_id: str) -> DeliveryResult:
        if self.code is not None:
            return classify_reply(self.code, self.reason, stage=CONNECT, message_id=message_id)
        return connection_failure(self.reason, stage=CONNECT, message_id=message_id)


class SessionOpener:
    """Opens sessions to one server with fixed settings."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: str,
        tls_context: ssl.SSLContext | None,
        username: str | None,
        password: str | None,
        local_hostname: str | None,
        connect_timeout: float,
    ) -> None:
        self.host = host
        self.port = port
        self.where = f"{host}:{port}"
        self.tls = tls
        self.tls_context = tls_context
        self.username = username
        self.password = password
        self.local_hostname = local_hostname
        self.connect_timeout = connect_timeout

    async def open(self, deadline: Deadline) -> aiosmtplib.SMTP:
        """A session ready for MAIL FROM; SessionFailed if any step fails or time runs out."""
        step = CONNECTING
        smtp: aiosmtplib.SMTP | None = None
        try:
            async with asyncio.timeout(deadline.left()):
                if self.local_hostname is None:
                    self.local_hostname = await asyncio.to_thread(socket.getfqdn)
                smtp = self._client(deadline.wait(self.connect_timeout))
                await smtp.connect()
                step = EHLO
                await smtp.ehlo()
                if self.tls == "starttls":
                    step = STARTTLS
                    await smtp.starttls()
                    step = EHLO
                    await smtp.ehlo()
                if self.username is not None:
                    step = AUTH
                    await smtp.login(self.username, self.password or "")
        except (aiosmtplib.SMTPException, OSError) as error:  # TimeoutError is an OSError
            if smtp is not None:
                smtp.close()
            raise self._failure(step, error, deadline) from error
        except BaseException:  # cancelled: nothing is left open
            if smtp is not None:
                smtp.close()
            raise
        if smtp.transport is None or not smtp.is_connected:
            smtp.close()
            raise SessionFailed(
                f"{CONNECTION_DROPPED}: {self.where} closed the connection after {step}"
            )
        return smtp

    def _client(self, timeout: float) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=False,  # taken as a step of its own
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
            timeout=timeout,
        )

    def _failure(self, step: str, error: BaseException, deadline: Deadline) -> SessionFailed:
        where = self.where
        detail = str(error) or type(error).__name__
        if step == STARTTLS or _is_tls_error(error):
            return SessionFailed(f"{TLS_FAILED}: {step} with {where}: {detail}")
        if isinstance(error, aiosmtplib.SMTPResponseException):
            return SessionFailed(f"{error.message} (at {step})", code=error.code)
        if isinstance(error, TimeoutError):
            if not isinstance(error, aiosmtplib.SMTPException):
                detail = f"the message's time limit of {deadline.total:g} s ran out"
            return SessionFailed(f"{TIMEOUT}: {where} at {step}: {detail}")
        cause = error.__cause__
        if isinstance(error, ConnectionRefusedError) or isinstance(cause, ConnectionRefusedError):
            return SessionFailed(f"{CONNECTION_REFUSED}: {where}: {detail}")
        if isinstance(error, aiosmtplib.SMTPServerDisconnected) or isinstance(
            cause, aiosmtplib.SMTPServerDisconnected | ConnectionResetError | BrokenPipeError
        ):
            return SessionFailed(f"{CONNECTION_DROPPED}: {where} at {step}: {detail}")
        return SessionFailed(f"{CANNOT_CONNECT}: {where} at {step}: {detail}")


def _is_tls_error(error: BaseException) -> bool:
    return isinstance(error, ssl.SSLError) or isinstance(error.__cause__, ssl.SSLError)
