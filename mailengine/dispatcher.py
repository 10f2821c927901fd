"""The dispatcher: claims due outbox rows, checks consent at send time, renders, sends, records.

Each SMTP worker records its message's outcome (group-committed with the other workers')
before it takes the next one, so a crash can leave at most one sent-but-unrecorded message
per connection; those are sent again with the same Message-ID once their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailengine.addresses import address_hash
from mailengine.clock import Clock
from mailengine.compose_pool import (
    Composed,
    ComposeProcesses,
    ComposeTask,
    ComposeThreads,
    ComposeWorkerLost,
    Composing,
)
from mailengine.composer import Composer
from mailengine.store.api_queries import TrackedLinkRow, store_tracked_links
from mailengine.store.coupons import CouponOffer, IssuedCoupon, issue_for_send
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, record_outcomes, release_claims
from mailengine.store.privacy import opted_out_topics
from mailengine.store.recipients import RecipientSnapshot, load_recipients_of, suppressions_of
from mailengine.store.records import ClaimedSend, SendOutcome
from mailengine.store.suppressions import blocks, suppress
from mailengine.transport.base import DeliveryResult, DeliveryStatus, Envelope, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchOptions:
    batch_size: int = 200
    compose_threads: int = 2
    # More than 0: compose in this many worker processes instead of `compose_threads` threads.
    compose_processes: int = 0
    lease: timedelta = timedelta(minutes=10)
    retry_for: timedelta = timedelta(hours=72)
    first_retry: timedelta = timedelta(minutes=2)
    longest_retry: timedelta = timedelta(hours=4)


@dataclass
class DispatchReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0

    def add(self, state: str) -> None:
        setattr(self, state, getattr(self, state) + 1)

    @property
    def handled(self) -> int:
        return self.sent + self.deferred + self.failed + self.suppressed


@dataclass(frozen=True)
class _Prepared:
    send: ClaimedSend
    envelope: Envelope


@dataclass
class _Batch:
    prepared: list[_Prepared] = field(default_factory=list)
    settled: list[SendOutcome] = field(default_factory=list)  # decided without SMTP
    tracked: list[TrackedLinkRow] = field(default_factory=list)


@dataclass
class _Loaded:
    recipients: dict[int, RecipientSnapshot]
    coupons: dict[int, IssuedCoupon]
    strangers: dict[str, str]  # address of a non-customer -> suppression reason
    opted_out: dict[int, set[str]]  # customer id -> workflows they asked not to get
    verdicts: dict[int, str | None] = field(default_factory=dict)  # outbox id -> why not


class Dispatcher:
    """Moves messages from the outbox to a transport; one instance per process."""

    def __init__(
        self,
        database: Database,
        transport: Transport,
        composer: Composer,
        clock: Clock,
        *,
        options: DispatchOptions | None = None,
        worker_id: str | None = None,
        may_send: Callable[[ClaimedSend], str | None] | None = None,
        composing: Composing | None = None,
    ) -> None:
        """`composing`, when given, is a pool the caller shares and closes (it composes with
        the composer it was made from); by default the dispatcher starts its own from
        `options` at the first batch and stops it with itself."""
        self.database = database
        self.transport = transport
        self.composer = composer
        self.clock = clock
        self.options = options or DispatchOptions()
        self.worker_id = worker_id or f"dispatcher-{uuid.uuid4().hex[:12]}"
        self._may_send = may_send
        self._recorder = _GroupCommit(self._write_outcomes)
        self._composing = composing
        self._owns_composing = composing is None
        self.report = DispatchReport()

    async def drain(self, stop: asyncio.Event | None = None) -> DispatchReport:
        """Send everything due now; returns what this call did."""
        before = DispatchReport(**vars(self.report))
        await self._run(stop or asyncio.Event(), idle_seconds=None)
        return DispatchReport(
            **{name: getattr(self.report, name) - getattr(before, name) for name in vars(before)}
        )

    async def serve(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Keep draining until `stop` is set; in-flight SMTP transactions finish first.

        The compose workers stop with it (a later call starts new ones).
        """
        try:
            await self._run(stop, idle_seconds)
        finally:
            await asyncio.to_thread(self.close)

    def start(self) -> None:
        """Start the compose workers now, not with the first batch; returns once they are up.

        Worker processes take a second or two to start; a serving engine starts them with
        itself, so that one that cannot start stops it at once.
        """
        self._composition().start()

    def close(self) -> None:
        """Stop this dispatcher's compose threads or processes, once no batch is in hand.

        `serve` does it when it returns; after `drain` the workers stay for the next call
        until this is called. A shared pool given to the constructor is left to its owner.
        """
        if self._owns_composing and self._composing is not None:
            composing, self._composing = self._composing, None
            composing.close()

    async def _run(self, stop: asyncio.Event, idle_seconds: float | None) -> None:
        """Batch after batch, the next one claimed and composed while this one is sent.

        Composing (rendering, DKIM) runs on threads, where signing releases the GIL, or in
        worker processes (`compose_processes`), which keep every core busy. A batch taken
        ahead when `stop` comes is handed back unsent, for this or another dispatcher to take
        at once.
        """
        ahead: asyncio.Task[_Batch | None] | None = None
        try:
            while not stop.is_set():
                taken, ahead = ahead, None
                try:
                    batch = await (taken or self._next_batch())
                    if batch is not None:
                        if not stop.is_set():
                            ahead = asyncio.create_task(self._next_batch())
                        await self._send_all(batch.prepared)
                        continue
                except Exception:
                    if idle_seconds is None:
                        raise
                    # a database hiccup must not stop the engine; try again soon
                    log.exception("dispatching a batch failed; retrying shortly")
                if idle_seconds is None:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
        finally:
            if ahead is not None:
                await self._hand_back(ahead)

    async def _next_batch(self) -> _Batch | None:
        batch = await asyncio.to_thread(self._take_batch, self.clock.now())
        if batch is not None:
            for outcome in batch.settled:
                self.report.add(outcome.state)
        return batch

    async def _hand_back(self, ahead: asyncio.Task[_Batch | None]) -> None:
        try:
            batch = await ahead
        except Exception:  # handed back already, or back when their lease runs out
            log.exception("taking a batch ahead failed")
            return
        if batch is not None and batch.prepared:
            ids = [item.send.id for item in batch.prepared]
            await asyncio.to_thread(self._release, ids)
            log.info("outbox: %d taken ahead and handed back unsent", len(ids))

    def _take_batch(self, now: datetime) -> _Batch | None:
        """Claim, load and compose one batch, and store what it settled without SMTP."""
        claimed = self._claim(now)
        if not claimed:
            return None
        try:
            batch = self._prepare(claimed, self._load(claimed, now), now)
        except ComposeWorkerLost:
            # Nothing of the batch was sent or settled: hand it all back, due at once.
            self._release([send.id for send in claimed])
            log.error("outbox: compose workers keep dying; %d claimed handed back", len(claimed))
            raise
        if batch.settled or batch.tracked:
            self._settle(batch)
        log.info(
            "outbox: %d claimed, %d ready for the mail server, %d settled without sending",
            len(claimed),
            len(batch.prepared),
            len(batch.settled),
        )
        return batch

    def _release(self, outbox_ids: Sequence[int]) -> None:
        with self.database.transaction() as session:
            release_claims(session, self.worker_id, outbox_ids, self.clock.now())

    # Steps of a batch

    def _claim(self, now: datetime) -> list[ClaimedSend]:
        with self.database.transaction() as session:
            return claim_due(
                session, self.worker_id, now, self.options.batch_size, self.options.lease
            )

    def _load(self, claimed: Sequence[ClaimedSend], now: datetime) -> _Loaded:
        customer_ids = [s.customer_id for s in claimed if s.customer_id is not None]
        with self.database.transaction() as session:
            loaded = _Loaded(
                recipients=load_recipients_of(session, claimed),
                coupons={},
                strangers=suppressions_of(
                    session, (s.recipient for s in claimed if s.customer_id is None)
                ),
                opted_out=opted_out_topics(session, customer_ids),
            )
            for send in claimed:
                loaded.verdicts[send.id] = self._verdict(send, loaded)
                offer = send.payload.get("coupon")
                if offer and loaded.verdicts[send.id] is None:
                    loaded.coupons[send.id] = issue_for_send(
                        session, send.id, send.customer_id, _offer(offer, now), now
                    )
        return loaded

    def _settle(self, batch: _Batch) -> None:
        """Store what was decided without SMTP, and the tracked links before their mail goes."""
        if batch.tracked:
            with self.database.transaction() as session:
                store_tracked_links(session, batch.tracked)
        if batch.settled:
            self._write_outcomes([(outcome, None) for outcome in batch.settled])

    def _prepare(self, claimed: Sequence[ClaimedSend], loaded: _Loaded, now: datetime) -> _Batch:
        """The verdicts are the database's and stay here; what may go is composed."""
        tasks = [
            ComposeTask(send, _recipient(send, loaded), loaded.coupons.get(send.id))
            for send in claimed
            if loaded.verdicts[send.id] is None
        ]
        results = self._composition().compose(tasks, now)
        composed = {task.send.id: result for task, result in zip(tasks, results, strict=True)}
        batch = _Batch()
        for send in claimed:
            result: Composed | None = composed.get(send.id)
            if result is None:
                reason = loaded.verdicts[send.id]
                batch.settled.append(SendOutcome(send.id, "suppressed", reply=reason))
            elif isinstance(result, SendOutcome):
                log.warning("outbox %s cannot be sent: %s", send.id, result.reply)
                batch.settled.append(result)
            else:
                batch.prepared.append(_Prepared(send, result.envelope))
                batch.tracked.extend(result.tracked)
        return batch

    def _composition(self) -> Composing:
        """Threads, or worker processes (`compose_processes`), started at the first batch."""
        if self._composing is None:
            if self.options.compose_processes > 0:
                self._composing = ComposeProcesses(self.composer, self.options.compose_processes)
            else:
                self._composing = ComposeThreads(self.composer, self.options.compose_threads)
        return self._composing

    def _verdict(self, send: ClaimedSend, loaded: _Loaded) -> str | None:
        """Why this message must not go now, or None. Checked at send time, not at planning."""
        if send.customer_id is None:
            if send.kind == "marketing":
                return "marketing mail needs a customer with consent"
            reason = loaded.strangers.get(send.recipient)
            return f"address suppressed ({reason})" if blocks(reason, send.kind) else None
        recipient = loaded.recipients.get(send.customer_id)
        if recipient is None:
            return "the customer no longer exists"
        if recipient.forgotten:
            return "the customer asked to be forgotten"
        if blocks(recipient.suppression, send.kind):
            return f"address suppressed ({recipient.suppression})"
        if send.kind == "marketing" and recipient.consent_status != "granted":
            return f"no marketing consent at send time ({recipient.consent_status})"
        if send.kind == "marketing" and send.workflow in loaded.opted_out.get(recipient.id, ()):
            return f"the customer opted out of {send.workflow} mail"
        if self._may_send is not None:
            return self._may_send(send)
        return None

    async def _send_all(self, prepared: Sequence[_Prepared]) -> None:
        pending = iter(prepared)

        async def worker() -> None:
            for item in pending:
                result = await self.transport.send(item.envelope)
                outcome, suppress_address = self._outcome(item, result)
                await self._recorder.record(outcome, suppress_address)
                self.report.add(outcome.state)

        workers = max(1, min(self.transport.concurrency, len(prepared)))
        self._recorder.workers = workers
        await asyncio.gather(*(worker() for _ in range(workers)))

    def _outcome(self, item: _Prepared, result: DeliveryResult) -> tuple[SendOutcome, str | None]:
        send = item.send
        reply = f"{result.enhanced_code or ''} {result.reply}".strip()[:1000]
        if result.status is DeliveryStatus.SENT:
            return SendOutcome(send.id, "sent", result.smtp_code, reply), None
        if result.status is DeliveryStatus.FAILED:
            return (
                SendOutcome(send.id, "failed", result.smtp_code, reply),
                item.envelope.rcpt_to if result.hard_bounce else None,
            )
        now = self.clock.now()
        retry_at = now + self._backoff(send.attempts)
        if retry_at - send.created_at > self.options.retry_for:
            gave_up = f"gave up after {send.attempts} attempts: {reply}"[:1000]
            return SendOutcome(send.id, "failed", result.smtp_code, gave_up), None
        return SendOutcome(send.id, "deferred", result.smtp_code, reply, retry_at), None

    def _backoff(self, attempts: int) -> timedelta:
        base = self.options.first_retry * (2 ** max(0, attempts - 1))
        capped: timedelta = min(base, self.options.longest_retry)
        return capped * random.uniform(0.8, 1.2)

    def _write_outcomes(self, items: Sequence[tuple[SendOutcome, str | None]]) -> None:
        now = self.clock.now()
        with self.database.transaction() as session:
            record_outcomes(session, self.worker_id, [outcome for outcome, _ in items], now)
            for outcome, address in items:
                if address is not None:
                    suppress(session, address, "hard-bounce", now, outcome.reply or "")


class _GroupCommit:
    """Workers wait for their outcome to be stored; outcomes arriving together share a commit.

    A commit waits up to `linger` seconds for more outcomes, until every worker sending has
    one pending (none can come before that commit then): a transaction costs 0.3-1 ms of CPU
    whether it stores one outcome or eight.
    """

    def __init__(
        self,
        write: Callable[[Sequence[tuple[SendOutcome, str | None]]], None],
        linger: float = 0.002,
    ) -> None:
        self._write = write
        self._linger = linger
        self.workers = 1  # sending now, so at most this many outcomes can be waiting
        self._pending: list[tuple[SendOutcome, str | None, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._all_in: asyncio.Future[None] | None = None

    async def record(self, outcome: SendOutcome, suppress_address: str | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, suppress_address, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        elif len(self._pending) >= self.workers and self._all_in and not self._all_in.done():
            self._all_in.set_result(None)
        await done

    async def _flush(self) -> None:
        while self._pending:
            if len(self._pending) < self.workers:
                self._all_in = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        await self._all_in
                self._all_in = None
            items, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, [(o, a) for o, a, _ in items])
            except Exception as error:  # the workers see it and stop; rows come back by lease
                for _, _, done in items:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, _, done in items:
                if not done.done():
                    done.set_result(None)


def _offer(offer: dict[str, object], now: datetime) -> CouponOffer:
    valid = timedelta(seconds=float(str(offer.get("valid_seconds", 14 * 86400))))
    percent = offer.get("percent")
    amount = offer.get("amount_minor")
    return CouponOffer(
        percent=int(str(percent)) if percent is not None else None,
        amount_minor=int(str(amount)) if amount is not None else None,
        currency=str(offer["currency"]) if offer.get("currency") else None,
        expires_at=now + valid,
    )


def _recipient(send: ClaimedSend, loaded: _Loaded) -> RecipientSnapshot:
    recipient = loaded.recipients.get(send.customer_id) if send.customer_id is not None else None
    return recipient if recipient is not None else _stranger(send)


def _stranger(send: ClaimedSend) -> RecipientSnapshot:
    """Someone who is not a customer (an autoreply to an unknown sender)."""
    return RecipientSnapshot(
        id=0,
        email=send.recipient,
        email_hash=address_hash(send.recipient),
        profile={},
        consent_status="unknown",
        forgotten=False,
        suppression=None,
    )
