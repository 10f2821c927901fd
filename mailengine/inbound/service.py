"""Inbound mail as a part of the running engine: the SMTP listener, the worker, the IMAP poller."""

from __future__ import annotations

import asyncio
import logging

from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.inbound.imap import ImapPoller
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database

log = logging.getLogger(__name__)


class InboundComponent:
    """Started and stopped with the engine; every source feeds one pipeline."""

    def __init__(self, settings: Settings, database: Database, secret: bytes, clock: Clock) -> None:
        self.settings = settings
        self.pipeline = InboundPipeline(database, settings, secret, clock)
        self.listener: InboundSmtpListener | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        inbound = self.settings.inbound
        self._stop.clear()
        if inbound.smtp.enabled:
            self.listener = InboundSmtpListener(self.pipeline, inbound.smtp)
            await self.listener.start()
            log.info("inbound mail accepted on %s:%s", inbound.smtp.host, self.listener.port)
        self._tasks.append(asyncio.create_task(self.pipeline.run(self._stop), name="inbound"))
        if inbound.imap.enabled:
            poller = ImapPoller(inbound.imap, self.pipeline)
            self._tasks.append(asyncio.create_task(poller.run(self._stop), name="imap"))

    async def stop(self) -> None:
        self._stop.set()
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 30)
            except TimeoutError:
                task.cancel()
        self._tasks.clear()
