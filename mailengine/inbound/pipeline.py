"""The one path every received message takes: store it raw, classify it, act on it.

The SMTP listener and the IMAP poller call `store` (a committed write, before the `250` or
the `\\Seen` flag) and then `notify`; the worker (`run`) acts on every `received` row, also
the ones a crash left behind. Acting on one message is one transaction that starts by
claiming the row, so a message is acted on once, and every write it makes is idempotent, so
even a repeated run never answers twice.

What it does with a message depends on where it was sent and what the rule chain says:
mail for the support address opens or joins a ticket (and may be answered); mail to a VERP
bounce address is a bounce or complaint about one send; mail to the plain bounce address
with the subject `unsubscribe <token>` is the `mailto:` List-Unsubscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from mailengine.addresses import InvalidAddressError, address_hash, normalize_email
from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.inbound.autoresponder import answer_support_mail
from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.chain import Classification, RuleChain, Verdict, default_chain
from mailengine.inbound.complaints import parse_complaint
from mailengine.inbound.message import InboundLimits, InboundMessage
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.tickets import assign_ticket
from mailengine.inbound.verp_lookup import VerpKey
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.customers import get_customer
from mailengine.store.database import Database
from mailengine.store.inbound_store import (
    ReceivedMessage,
    SentMessage,
    StoredRaw,
    claim_received,
    earlier_copy,
    finish_received,
    load_received,
    mark_send_bounced,
    note_failure,
    received_ids,
    record_bounce,
    safe_text,
    sent_message,
    store_raw,
)
from mailengine.store.privacy import unsubscribe
from mailengine.store.suppressions import suppress
from mailengine.tokens import read_token

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S{1,200})\s*$", re.IGNORECASE)
_NOT_FAILURES = ("delayed", "relayed", "delivered", "expanded")
# Mail to a genuine VERP address answers our envelope sender: only servers (and broken
# responders) write there, so whatever it looks like, it is read as a report about the send.
_REPORT_CLASSES = (
    Classification.BOUNCE,
    Classification.HUMAN,
    Classification.INVALID,
    Classification.AUTO_REPLY,
)


class Route(StrEnum):
    SUPPORT = "support"
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"


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


@dataclass
class _Acted:
    state: str = "processed"
    ticket_id: int | None = None
    acknowledged: bool = False
    team_notified: bool = False
    notes: list[str] = field(default_factory=list)


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
        self._secret = secret
        sender = settings.sender
        inbound = settings.inbound
        self.support_address = inbound.support_address.lower()
        self.domain = sender.domain
        self.bounce_local_part = sender.bounce_local_part.lower()
        self.unsubscribe_address = f"{self.bounce_local_part}@{self.domain}"
        self.verp = VerpKey(self.bounce_local_part, self.domain, secret)
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
        address = address.strip().strip("<>").lower()
        if address in (self.support_address, self.unsubscribe_address):
            return True
        return self.verp.send_id([address]) is not None

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
                acted = self._act(session, row, msg, verdict, route, now)
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
        recipients = [a.lower() for a in row.envelope_to] or [
            *msg.delivered_to,
            *msg.to_addresses,
        ]
        if self.support_address in recipients:
            return Route.SUPPORT
        if self.unsubscribe_address in recipients:
            return Route.UNSUBSCRIBE
        if self.verp.send_id(recipients) is not None:
            return Route.BOUNCE
        return Route.SUPPORT  # an IMAP mailbox is the support mailbox, whoever it was sent to

    def _act(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        route: Route,
        now: datetime,
    ) -> _Acted:
        kind = verdict.classification
        if kind is Classification.OVERSIZED:
            return _Acted("over_limit", notes=[f"over limits: {', '.join(msg.over_limits)}"])
        if route is Route.UNSUBSCRIBE and _UNSUBSCRIBE_SUBJECT.match(msg.subject):
            return self._unsubscribe(session, msg, now)
        if kind is Classification.COMPLAINT:
            return self._complaint(session, row, msg, now)
        about_a_send = route is not Route.SUPPORT and kind in _REPORT_CLASSES
        if kind is Classification.BOUNCE or about_a_send:
            return self._bounce(session, row, msg, now)
        if kind is Classification.HUMAN and route is Route.SUPPORT:
            return self._support(session, row, msg, verdict, now)
        return _Acted(notes=[f"not answered: {kind.value}"])

    def _support(
        self,
        session: Session,
        row: ReceivedMessage,
        msg: InboundMessage,
        verdict: Verdict,
        now: datetime,
    ) -> _Acted:
        sender = _address(msg.from_address)
        if sender is None:
            return _Acted(notes=["no usable sender address"])
        copy = earlier_copy(session, row.id, msg.message_id, sender)
        if copy is not None:
            return _Acted("duplicate", ticket_id=copy[1], notes=[f"copy of message {copy[0]}"])
        customer = get_customer(session, sender)
        if customer is not None and customer.forgotten_at is not None:
            customer = None
        customer_id = customer.id if customer is not None else None
        assignment = assign_ticket(session, msg, sender, customer_id, now)
        outcome = answer_support_mail(
            session,
            self.settings,
            inbound_id=row.id,
            msg=msg,
            sender=sender,
            customer=customer,
            assignment=assignment,
            may_answer=verdict.may_answer,
            now=now,
        )
        notes = [f"not acknowledged: {outcome.skipped_because}"] if outcome.skipped_because else []
        return _Acted(
            ticket_id=assignment.ticket.id,
            acknowledged=outcome.acknowledged,
            team_notified=outcome.team_notified,
            notes=notes,
        )

    def _bounce(
        self, session: Session, row: ReceivedMessage, msg: InboundMessage, now: datetime
    ) -> _Acted:
        report = parse_bounce(msg, self.verp)
        sent = self._sent(session, report.send_id, report.original_message_id)
        failures = [r for r in report.recipients if (r.action or "").lower() not in _NOT_FAILURES]
        acted = _Acted()
        for failure in failures:
            address = _address(failure.recipient) or _address(failure.original_recipient)
            ours = sent is not None and (len(failures) == 1 or address == sent.recipient)
            target = sent if ours else None
            if target is not None:
                address = target.recipient
            if address is None:
                continue
            kind = "hard" if failure.hard else "soft"
            new = record_bounce(
                session,
                inbound_id=row.id,
                address=address,
                kind=kind,
                now=now,
                outbox_id=target.id if target else None,
                status=failure.status,
                reason=failure.reason,
                diagnostic=failure.diagnostic,
            )
            acted.notes.append(f"{kind} bounce ({failure.reason})")
            if not failure.hard:
                continue
            detail = safe_text(" ".join(f"{failure.status or ''} {failure.diagnostic}".split()))
            suppress(session, address, "hard-bounce", now, detail)
            if target is not None:
                mark_send_bounced(session, target.id, f"bounced: {detail}", now)
                if new:
                    record_tracking_event(session, target.id, "bounce", now)
        return acted

    def _complaint(
        self, session: Session, row: ReceivedMessage, msg: InboundMessage, now: datetime
    ) -> _Acted:
        report = parse_complaint(msg, self.verp)
        if report is None:
            return _Acted(notes=["complaint without a readable report"])
        sent = self._sent(session, report.send_id, report.original_message_id)
        named = [a for a in map(_address, report.recipients) if a is not None]
        addresses = [sent.recipient] if sent is not None else named
        opt_out = report.feedback_type == "opt-out"
        for address in addresses:
            if opt_out:
                unsubscribe(session, address_hash(address), f"complaint:{report.source}", None, now)
                continue
            new = record_bounce(
                session,
                inbound_id=row.id,
                address=address,
                kind="complaint",
                now=now,
                outbox_id=sent.id if sent else None,
                reason=report.feedback_type[:40],
            )
            detail = safe_text(f"{report.source} {report.feedback_type}")
            suppress(session, address, "complaint", now, detail)
            if new and sent is not None:
                record_tracking_event(session, sent.id, "complaint", now)
        what = "unsubscribe" if opt_out else "complaint"
        return _Acted(notes=[f"{what} for {len(addresses)} address(es)"])

    def _unsubscribe(self, session: Session, msg: InboundMessage, now: datetime) -> _Acted:
        match = _UNSUBSCRIBE_SUBJECT.match(msg.subject)
        assert match is not None
        validity = timedelta(days=self.settings.http.link_validity_days)
        digest = read_token(self._secret, "unsubscribe", match.group(1), now, validity)
        if digest is None:
            return _Acted(notes=["unsubscribe with a forged or altered token"])
        changed = unsubscribe(session, digest, "mailto-unsubscribe", None, now)
        return _Acted(notes=["unsubscribed" if changed else "unsubscribed before"])

    def _sent(
        self, session: Session, send_id: int | None, message_id: str | None
    ) -> SentMessage | None:
        if send_id is not None:
            found = sent_message(session, outbox_id=send_id)
            if found is not None:
                return found
        return sent_message(session, message_id=message_id)


def _address(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_email(value)
    except InvalidAddressError:
        return None


def _last_try(row: ReceivedMessage) -> bool:
    return row.attempts + 1 >= MAX_ATTEMPTS
