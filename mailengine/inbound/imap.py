"""The IMAP poller (aioimaplib): brings a support mailbox kept elsewhere into the pipeline.

Each poll connects (TLS or plain), selects the folder, and for every UNSEEN message fetches
it with BODY.PEEK[] (which leaves it unread), commits it through the pipeline, and only then
flags it \\Seen. A crash between the two leaves the message unread: the next poll fetches it
again and the store recognises the same bytes, so it is neither lost nor handled twice. A
poll that fails (server away, connection dropped, login refused) is logged and retried with a
growing pause; the poller itself never stops until told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable
from typing import Any

import aioimaplib

from mailengine.config import ImapSettings
from mailengine.errors import MailengineError
from mailengine.inbound.pipeline import InboundPipeline

log = logging.getLogger(__name__)

_UID = re.compile(rb"\bUID (\d+)\b")
_LONGEST_PAUSE = 900.0


class MailboxError(MailengineError, ConnectionError):
    """The IMAP server refused a command or the mailbox could not be read."""


class ImapPoller:
    """Polls one IMAP folder; `poll_once` for one pass, `run` to keep polling."""

    def __init__(
        self,
        settings: ImapSettings,
        pipeline: InboundPipeline,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        batch_size: int = 100,
        longest_pause: float = _LONGEST_PAUSE,
    ) -> None:
        if not settings.username or settings.password is None:
            raise MailboxError(
                "inbound.imap needs a username and a password: set inbound.imap.username "
                "in config.yaml and MAILENGINE_INBOUND__IMAP__PASSWORD in the environment"
            )
        self.settings = settings
        self.pipeline = pipeline
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.batch_size = batch_size
        self.longest_pause = max(longest_pause, settings.poll_seconds)
        self.failures = 0

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}/{self.settings.folder}"

    async def poll_once(self) -> int:
        """Fetch, store and flag the folder's unseen messages; returns how many were stored."""
        client = self._client()
        stored = 0
        try:
            await client.wait_hello_from_server()
            password = self.settings.password
            assert password is not None and self.settings.username
            await self._ok(client.login(self.settings.username, password.get_secret_value()))
            await self._ok(client.select(self.settings.folder), "SELECT")
            found = await self._ok(client.uid_search("UNSEEN"), "SEARCH")
            uids = [
                part.decode() for line in found.lines[:1] for part in bytes(line).split() if part
            ]
            for uid in uids[: self.batch_size]:
                raw = await self._fetch(client, uid)
                if raw is None:
                    continue
                await asyncio.to_thread(self.pipeline.store, raw, source="imap")
                self.pipeline.notify()
                await self._ok(client.uid("store", uid, "+FLAGS.SILENT (\\Seen)"), "STORE")
                stored += 1
            with contextlib.suppress(Exception):
                await client.logout()
        finally:
            await _close(client)
        return stored

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `poll_seconds` until `stop` is set, pausing longer while polls fail."""
        while not stop.is_set():
            pause = self.settings.poll_seconds
            try:
                stored = await self.poll_once()
                self.failures = 0
                if stored:
                    log.info("stored %s message(s) from %s", stored, self._where)
            except (OSError, TimeoutError, MailboxError, aioimaplib.AioImapException) as error:
                self.failures += 1
                pause = min(pause * 2 ** min(self.failures, 10), self.longest_pause)
                log.warning(
                    "polling %s failed (%s: %s); next try in %.0f s",
                    self._where,
                    type(error).__name__,
                    error,
                    pause,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)

    def _client(self) -> Any:
        if self.settings.tls:
            context = self.ssl_context or ssl.create_default_context()
            return aioimaplib.IMAP4_SSL(
                host=self.settings.host,
                port=self.settings.port,
                timeout=self.timeout,
                ssl_context=context,
            )
        return aioimaplib.IMAP4(
            host=self.settings.host, port=self.settings.port, timeout=self.timeout
        )

    async def _fetch(self, client: Any, uid: str) -> bytes | None:
        response = await self._ok(client.uid("fetch", uid, "(BODY.PEEK[])"), "FETCH")
        lines = list(response.lines)
        for index, line in enumerate(lines):
            if isinstance(line, bytearray) and index > 0:
                header = bytes(lines[index - 1])
                named = _UID.search(header)
                if named is None or named.group(1).decode() == uid:
                    return bytes(line)
        log.warning("message UID %s in %s came back without a body", uid, self._where)
        return None

    async def _ok(self, command: Awaitable[Any], name: str = "LOGIN") -> Any:
        response = await command
        if response.result != "OK":
            said = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
            raise MailboxError(
                f"the IMAP server at {self._where} refused {name}: {response.result} {said}; "
                "check inbound.imap (host, port, tls, username, folder) and the password"
            )
        return response


async def _close(client: Any) -> None:
    """Close the socket whatever state the session ended in (even a connect still running)."""
    connecting = getattr(client, "_client_task", None)
    if isinstance(connecting, asyncio.Future) and not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
    protocol = getattr(client, "protocol", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None and not transport.is_closing():
        transport.close()
