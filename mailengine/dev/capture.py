"""A local SMTP server that keeps every message it receives in a Maildir (for development).

`make run` sends to it instead of the world: read the mail in `var/mail/new/*.eml` with any
mail program. Each file starts with Return-Path, X-Envelope-From and X-Envelope-To, the
envelope the message came with. Only loopback addresses are accepted as the listening host.

In the engine's event loop:

    server = CaptureServer(Path("var/mail"), port=2525)
    await server.start()
    ...
    await server.stop()

From blocking code (scripts, tests without a loop): `with ThreadedCaptureServer(path) as s:`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from mailengine.errors import ConfigError
from mailengine.outbound import MaildirWriter

_LINE_END = b"\r\n"
_DOT_LINE_END = b".\r\n"
_END_OF_DATA = b"\r\n.\r\n"


class _MaildirHandler:
    def __init__(self, writer: MaildirWriter) -> None:
        self.writer = writer
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        data = content if isinstance(content, bytes) else (content or "").encode("utf-8")
        try:
            await asyncio.to_thread(
                self.writer.deliver, (envelope.mail_from or "").strip("<>"), envelope.rcpt_tos, data
            )
        except OSError as error:
            return f"451 4.3.0 cannot store the message: {error.strerror}"
        self.received += 1
        return "250 2.0.0 OK: captured"


class CaptureServer:
    """An aiosmtpd server on the running event loop; `port=0` picks a free port."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = 50_000_000,
    ) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigError(
                f"the capture server listens on loopback only, not on {host}; use 127.0.0.1"
            )
        self.directory = Path(directory)
        self.host = host
        self._requested_port = port
        self._max_message_bytes = max_message_bytes
        self._handler = _MaildirHandler(MaildirWriter(self.directory))
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen by the system when asked for 0)."""
        if self._server is None:
            raise RuntimeError("the capture server is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def received(self) -> int:
        """Messages stored since start."""
        return self._handler.received

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            protocol = _TrackedSMTP(
                self._handler,
                hostname="mailengine-capture",
                data_size_limit=self._max_message_bytes,
                loop=loop,
            )
            protocol.sessions = self._sessions
            return protocol

        try:
            self._server = await loop.create_server(session, self.host, self._requested_port)
        except OSError as error:
            raise ConfigError(
                f"the capture server cannot listen on {self.host}:{self._requested_port}: "
                f"{error.strerror}; choose another port (smtp.port) or stop what uses it"
            ) from None

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()
        self._server = None
        await asyncio.sleep(0)  # let the closed sessions finish their callbacks

    async def __aenter__(self) -> CaptureServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class _TrackedSMTP(SMTP):
    """aiosmtpd's server, reading a message's data in bulk.

    aiosmtpd reads DATA a line at a time (an await, a log call and a join per line): 2.6 ms
    of CPU for a 38 KB message, so on a machine shared with the engine the capture server was
    what capped a bench's sending at ~300 messages/s. This reads up to each ".<CRLF>" (or a
    kilobyte at a time in between), looks for the end of the data only there, and undoes the
    dot-stuffing with one replace: 0.6 ms. Lines longer than RFC 5321's 1,000 octets are taken
    as they come (a development sink need not refuse them); the size limit still holds.
    """

    sessions: set[SMTP]

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._read_data()
        if content is None:
            await self.push("552 Error: Too much mail data")
            self.envelope = self._create_envelope()  # as after any DATA
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self.envelope = self._create_envelope()  # as after any DATA
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | None:
        """The message up to the line holding a lone ".", dot-stuffing undone; None if it was
        longer than the size limit (read to its end all the same)."""
        data = bytearray(_LINE_END)  # the data starts a line: its end may be its first line
        limit = self.data_size_limit
        too_much = False
        while not data.endswith(_END_OF_DATA):
            try:
                data += await self._reader.readuntil(_DOT_LINE_END)
            except asyncio.LimitOverrunError as error:  # no ".<CRLF>" in the next kilobyte
                data += await self._reader.readexactly(error.consumed)
            if limit and len(data) > limit + len(_END_OF_DATA):
                too_much = True
                del data[: -len(_END_OF_DATA)]  # keep only what may begin the end
        if too_much:
            return None
        # A line starting with "." lost that dot; the first line too (behind the CRLF added).
        return bytes(data[: -len(_DOT_LINE_END)]).replace(b"\r\n.", b"\r\n")[len(_LINE_END) :]

    def connection_made(self, transport: Any) -> None:
        self.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.sessions.discard(self)
        super().connection_lost(error)


class ThreadedCaptureServer:
    """The capture server on its own thread and loop, for code that has no event loop."""

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = CaptureServer(directory, host=host, port=port)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def directory(self) -> Path:
        return self._server.directory

    def start(self) -> None:
        """Returns once the server listens; raises what stopped it from listening."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as error:  # handed to the thread that called start()
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self._server.stop()

    def __enter__(self) -> ThreadedCaptureServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
