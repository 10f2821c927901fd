"""The one path every received message takes: store it raw, classify it, act on it.

The SMTP listener and the IMAP poller call `store` (a committed write, before the `250` or
the `\\Seen` flag) and then `notify`; the worker (`run`) acts on every `received` row, also
the ones a crash left behind. Acting on one message is one transaction that starts by
claiming the row, so a message is acted on once, and every write it makes is idempotent, so
even a repeated run never answers twice.

What is done with a message depends on where it was sent and what the rule chain says:
that table is actions.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.inbound.actions import MessageActions, Route, recipients_of
from mailengine.inbound.chain import Classification, RuleChain, default_chain
from mailengine.inbound.message import InboundLimits, InboundMessage
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.verp_lookup import VerpKey
from mailengine.store.database import Database
from mailengine.store.inbound_store import (
    ReceivedMessage,
    StoredRaw,
    claim_received,
    finish_received,
    load_received,
    note_failure,
    received_ids,
    store_raw,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class InboundResult:
    """What the pipeline did with one message (for logs and tests)."""

    inbound_id: int
    state: str
    route: Route
    classification: Classification
    ticket_id: int | None = None
    acknowledged: bool = False
    team_notified: bool = False
    notes: tuple[str, ...] = ()


class InboundPipeline:
    """Stores, classifies and acts on inbound mail for one shop."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        secret: bytes,
        clock: Clock,
        *,
        limits: InboundLimits | None = None,
        chain: RuleChain | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        sender = settings.sender
        inbound = settings.inbound
        self.support_address = inbound.support_address.lower()
        self.team_address = inbound.team_address.lower()
        self.domain = sender.domain
        self.bounce_local_part = sender.bounce_local_part.lower()
        self.unsubscribe_address = f"{self.bounce_local_part}@{self.domain}"
        self.verp = VerpKey(self.bounce_local_part, self.domain, secret)
        self.actions = MessageActions(settings, secret, self.verp)
        self.limits = limits or InboundLimits(max_bytes=inbound.smtp.max_message_bytes)
        self.chain = chain or default_chain(
            own_addresses=[
                inbound.support_address,
                inbound.team_address,
                sender.from_address,
                self.unsubscribe_address,
            ],
            own_domains=[self.domain],
        )
        self._wake: asyncio.Event | None = None

    # Receiving

    def accepts(self, address: str) -> bool:
        """Whether mail for `address` is ours to take (the listener refuses the rest)."""
        return self.refusal(address) is None

    def refusal(self, address: str) -> str | None:
        """The SMTP reply that refuses a recipient, or None for one of ours. A reply address
        that is unsigned or whose signature is forged is refused, and logged."""
        address = address.strip().strip("<>").lower()
        if address in (self.support_address, self.unsubscribe_address):
            return None
        reply = self.actions.replies.check(address)
        if reply is not None:
            if reply.genuine:
                return None
            log.warning("inbound: refused the reply address %s: %s", address, reply.problem)
            return f"550 5.7.1 <{address}>: {reply.problem}; refused"
        if self.verp.send_id([address]) is not None:
            return None
        return f"550 5.1.1 <{address}>: no such mailbox here"

    def store(
        self,
        raw: bytes,
        *,
        source: str,
        envelope_from: str | None = None,
        envelope_to: tuple[str, ...] = (),
    ) -> StoredRaw:
        """Commit a received message; return only once it is safe on disk."""
        with self.database.transaction() as session:
            return store_raw(
                session,
                raw,
                source=source,
                envelope_from=envelope_from,
                envelope_to=envelope_to,
                now=self.clock.now(),
            )

    def notify(self) -> None:
        """Wake the worker: something was stored. Call from the event loop's thread."""
        if self._wake is not None:
            self._wake.set()

    # The worker

    async def run(self, stop: asyncio.Event, idle_seconds: float = 30.0) -> None:
        """Act on stored messages until `stop` is set; left-over rows are taken first."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()
            try:
                done = await asyncio.to_thread(self.process_pending)
            except Exception:  # the database may be away for a moment; rows wait for us
                log.exception("acting on inbound mail failed; trying again shortly")
                done = 0
            if done:
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), idle_seconds
                )
            for waiter in waiters:
                waiter.cancel()

    async def drain(self) -> list[InboundResult]:
        """Act on everything stored now (tests, and a one-off `process` run)."""
        results: list[InboundResult] = []
        while batch := await asyncio.to_thread(self.process_batch):
            results.extend(batch)
        return results

    def process_pending(self, limit: int = 100) -> int:
        return len(self.process_batch(limit))

    def process_batch(self, limit: int = 100) -> list[InboundResult]:
        with self.database.session() as session:
            ids = received_ids(session, limit)
        results = []
        for inbound_id in ids:
            result = self.process(inbound_id)
            if result is not None:
                results.append(result)
        return results

    def process(self, inbound_id: int) -> InboundResult | None:
        """Act on one stored message; None if it was acted on already or acting failed."""
        with self.database.session() as session:
            row = load_received(session, inbound_id)
        if row is None or row.state != "received":
            return None
        msg = parse_inbound(
            row.raw,
            self.limits,
            envelope_sender=row.envelope_from,
            envelope_recipients=row.envelope_to,
        )
        verdict = self.chain.classify(msg)
        route = self._route(row, msg)
        try:
            with self.database.transaction() as session:
                if not claim_received(session, inbound_id):
                    return None
                now = self.clock.now()
                acted = self.actions.act(session, row, msg, verdict, route, now)
                finish_received(
                    session,
                    inbound_id,
                    state=acted.state,
                    now=now,
                    message_id=msg.message_id,
                    from_address=msg.from_address,
                    subject=msg.subject,
                    classification=verdict.classification.value,
                    rules=verdict.matched,
                    ticket_id=acted.ticket_id,
                    error="; ".join(acted.notes) or None,
                )
        except Exception as error:
            log.exception("acting on inbound message %s failed", inbound_id)
            with self.database.transaction() as session:
                note_failure(
                    session, inbound_id, f"{type(error).__name__}: {error}", _last_try(row)
                )
            return None
        return InboundResult(
            inbound_id,
            acted.state,
            route,
            verdict.classification,
            acted.ticket_id,
            acted.acknowledged,
            acted.team_notified,
            tuple(acted.notes),
        )

    # Deciding

    def _route(self, row: ReceivedMessage, msg: InboundMessage) -> Route:
        recipients = recipients_of(row, msg)
        if any(self.actions.replies.check(address) for address in recipients):
            return Route.TEAM_REPLY
        if self.support_address in recipients:
            return Route.SUPPORT
        if self.unsubscribe_address in recipients:
            return Route.UNSUBSCRIBE
        if self.verp.send_id(recipients) is not None:
            return Route.BOUNCE
        return Route.SUPPORT  # an IMAP mailbox is the support mailbox, whoever it was sent to


def _last_try(row: ReceivedMessage) -> bool:
    return row.attempts + 1 >= MAX_ATTEMPTS
