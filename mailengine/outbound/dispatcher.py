"""The dispatcher: claims due outbox rows, checks consent at send time, renders, sends, records.

Sending is continuous (`sending`): SMTP workers take the next message as soon as they are
free while the next batch is claimed and composed. Each worker records its message's outcome
(group-committed with the other workers', or on SQLite journaled: `outcome_journal`) before
it takes the next one, so a crash can leave at most one sent-but-unrecorded message per
connection; those are sent again with the same Message-ID once a dispatcher on the same host
sees their holder gone (after storing what its journal kept), or their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailengine.clock import Clock
from mailengine.errors import ConfigError
from mailengine.outbound.compose_pool import (
    Composed,
    ComposeProcesses,
    ComposeTask,
    ComposeThreads,
    Composing,
)
from mailengine.outbound.composer import Composer
from mailengine.outbound.domain_queue import Prepared
from mailengine.outbound.ended_holders import hand_back_ended_holders, write_outcomes_of
from mailengine.outbound.group_commit import Recorded
from mailengine.outbound.leases import Leases
from mailengine.outbound.outcome_journal import OutcomeJournal, journal_folder
from mailengine.outbound.send_checks import (
    Checked,
    needs_writes,
    read_send_time_checks,
    store_send_time_writes,
)
from mailengine.outbound.sending import SendingFlow
from mailengine.outbound.tracking_links import LinkList
from mailengine.outbound.transport.base import DeliveryResult, DeliveryStatus, Transport
from mailengine.owners import owner_identity
from mailengine.store.database import Database
from mailengine.store.link_lists import CarriedList, store_link_lists
from mailengine.store.outbox import (
    Renewal,
    claim_due,
    hand_back_claims,
    release_claims,
    renew_claims,
)
from mailengine.store.records import ClaimedSend, SendOutcome

log = logging.getLogger(__name__)

HOLDERS_CHECK_SECONDS = 10.0
"""How often a serving dispatcher looks for claims whose holder on this host has ended."""


@dataclass(frozen=True)
class DispatchOptions:
    batch_size: int = 200
    compose_threads: int = 2
    # More than 0: compose in this many worker processes instead of `compose_threads` threads.
    compose_processes: int = 0
    # How long a claim lasts unrenewed; None: twice the transport's longest send.
    lease: timedelta | None = None
    # SMTP connections one recipient domain may use at once; None: `domain_share`.
    per_domain_connections: int | None = None
    retry_for: timedelta = timedelta(hours=72)
    first_retry: timedelta = timedelta(minutes=2)
    longest_retry: timedelta = timedelta(hours=4)


def domain_share(connections: int) -> int:
    """The default share of one recipient domain: three quarters of the connections, and
    never all of them when there are more than one."""
    return max(1, connections - max(1, connections // 4))


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


@dataclass
class _Batch:
    prepared: list[Prepared] = field(default_factory=list)
    settled: list[SendOutcome] = field(default_factory=list)  # decided without SMTP
    held: list[int] = field(default_factory=list)  # back in the outbox: their broadcast paused
    # Each tracked message's links and its customer.
    tracked: list[tuple[LinkList, int | None]] = field(default_factory=list)


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
        `options` at the first batch and stops it with itself. `worker_id` names it as the
        holder of its claims; by default an `owners.owner_identity`, which lets another
        dispatcher on this host hand its claims back at once should this process die."""
        self.database = database
        self.transport = transport
        self.composer = composer
        self.clock = clock
        self.options = options or DispatchOptions()
        self.worker_id = worker_id or owner_identity()
        self._may_send = may_send
        self._composing = composing
        self._owns_composing = composing is None
        self.report = DispatchReport()
        # On SQLite, outcomes are journaled here until stored (`outcome_journal`).
        self._journals = (
            journal_folder(database.engine.url.database) if database.dialect == "sqlite" else None
        )
        # Set when mail was planned in this process: an idle sender looks at once.
        self.planned = asyncio.Event()
        self._leases()  # refuse a lease no send fits in now, not at the first batch

    async def drain(self, stop: asyncio.Event | None = None) -> DispatchReport:
        """Send everything due now; returns what this call did."""
        before = DispatchReport(**vars(self.report))
        await self._run(stop or asyncio.Event(), idle_seconds=None, grace_seconds=None)
        return DispatchReport(
            **{name: getattr(self.report, name) - getattr(before, name) for name in vars(before)}
        )

    async def serve(
        self, stop: asyncio.Event, idle_seconds: float = 1.0, grace_seconds: float | None = None
    ) -> None:
        """Keep sending until `stop` is set; in-flight SMTP transactions then get up to
        `grace_seconds` (None: as long as they take) to finish, and every message still held
        is handed back at once, due again.

        The compose workers stop with it (a later call starts new ones).
        """
        self.planned = asyncio.Event()  # of this loop (a test may serve twice, in two)
        watching = asyncio.create_task(self._watch_holders(stop))
        try:
            await self._run(stop, idle_seconds, grace_seconds)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
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

    def _leases(self) -> Leases:
        longest = timedelta(seconds=self.transport.longest_send_seconds)
        lease = self.options.lease or 2 * longest
        try:
            return Leases(lease, longest)
        except ValueError as error:
            raise ConfigError(f"{type(self.transport).__name__}: {error}") from None

    async def _run(
        self, stop: asyncio.Event, idle_seconds: float | None, grace_seconds: float | None
    ) -> None:
        """Sending flows, one after another should one fail (serving only)."""
        await self._take_back_from_ended_holders()
        share = self.options.per_domain_connections or domain_share(self.transport.concurrency)
        while True:
            flow = SendingFlow(
                self, self._leases(), batch_size=self.options.batch_size, share=share
            )
            try:
                await flow.run(stop, idle_seconds, grace_seconds)
                return
            except Exception:
                if idle_seconds is None:
                    raise
                log.exception("sending stopped on an error; starting again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
            if stop.is_set():
                return

    def nudge(self) -> None:
        """Mail was just planned (call on the event loop): an idle sender looks now, not
        after its idle second."""
        self.planned.set()

    async def _watch_holders(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=HOLDERS_CHECK_SECONDS)
            if not stop.is_set():
                await self._take_back_from_ended_holders()

    async def _take_back_from_ended_holders(self) -> None:
        try:
            await asyncio.to_thread(self._hand_back_ended_holders)
        except Exception:
            log.exception("looking for claims of dispatchers that ended failed")

    def _hand_back_ended_holders(self) -> int:
        return hand_back_ended_holders(
            self.database, self.worker_id, self._journals, self.clock.now()
        )

    # What the sending flow asks of its dispatcher

    async def next_batch(self, leases: Leases, size: int) -> list[Prepared] | None:
        """Claim up to `size` (the claims held in `leases`), load and compose one batch, and
        store what it settled without SMTP; None when nothing is due."""
        now = self.clock.now()
        claimed = await asyncio.to_thread(self._claim, now, size)
        if not claimed:
            return None
        ids = [send.id for send in claimed]
        leases.hold(ids, now)
        try:
            batch = await asyncio.to_thread(self._take_batch, claimed, now)
        except BaseException:
            leases.let_go(ids)
            raise
        leases.let_go([*(outcome.outbox_id for outcome in batch.settled), *batch.held])
        for outcome in batch.settled:
            self.report.add(outcome.state)
        return batch.prepared

    def counted(self, state: str) -> None:
        self.report.add(state)

    def renew(self, outbox_ids: Sequence[int], now: datetime) -> Renewal:
        with self.database.transaction() as session:
            return renew_claims(session, self.worker_id, outbox_ids, now)

    def release(self, outbox_ids: Sequence[int]) -> None:
        with self.database.transaction() as session:
            release_claims(session, self.worker_id, outbox_ids, self.clock.now())

    def hand_back(self, outbox_ids: Sequence[int], reason: str) -> None:
        with self.database.transaction() as session:
            hand_back_claims(session, [self.worker_id], self.clock.now(), reason, outbox_ids)

    def _take_batch(self, claimed: Sequence[ClaimedSend], now: datetime) -> _Batch:
        """Load and compose a claimed batch, and store what it settled without SMTP. If that
        fails, nothing of it was sent: it is all handed back, due at once."""
        try:
            batch = self._prepare(claimed, self._load(claimed, now), now)
            if batch.settled or batch.tracked:
                self._settle(batch)
        except Exception:
            with contextlib.suppress(Exception):  # else they come back by lease
                self.release([send.id for send in claimed])
            log.error("outbox: %d claimed could not be composed; handed back", len(claimed))
            raise
        log.info(
            "outbox: %d claimed, %d ready for the mail server, %d settled without sending%s",
            len(claimed),
            len(batch.prepared),
            len(batch.settled),
            f", {len(batch.held)} held by a paused broadcast" if batch.held else "",
        )
        return batch

    # Steps of a batch

    def _claim(self, now: datetime, size: int) -> list[ClaimedSend]:
        lease = self._leases().lease
        with self.database.transaction() as session:
            return claim_due(session, self.worker_id, now, size, lease)

    def _load(self, claimed: Sequence[ClaimedSend], now: datetime) -> Checked:
        """The send-time checks, read outside any unit of work: they wait for no write turn,
        nor hold it from the others while they read (27-34 ms a batch of ~130 under 500
        orders/s; 50-100 ms a batch of marketing mail). Only a batch that writes (a coupon
        to issue, a paused broadcast's messages to hold) then takes a short one."""
        with self.database.session() as session:
            checked = read_send_time_checks(session, claimed, now, self._may_send)
        if needs_writes(claimed, checked):
            with self.database.transaction() as session:
                store_send_time_writes(session, claimed, checked, now, worker=self.worker_id)
        return checked

    def _settle(self, batch: _Batch) -> None:
        """Store what was decided without SMTP, and the tracked links before their mail goes."""
        if batch.tracked:
            lists: dict[str, CarriedList] = {}
            for links, customer_id in batch.tracked:
                carried = lists.setdefault(links.digest, CarriedList(links.urls, set()))
                carried.customers.add(customer_id)
            with self.database.transaction() as session:
                store_link_lists(session, lists, self.clock.now())
        if batch.settled:
            self.write_outcomes([(outcome, None) for outcome in batch.settled])

    def _prepare(self, claimed: Sequence[ClaimedSend], loaded: Checked, now: datetime) -> _Batch:
        """The verdicts are the database's and stay here; what may go is composed."""
        tasks = [
            ComposeTask(
                send, loaded.recipient(send), loaded.coupons.get(send.id), loaded.template(send)
            )
            for send in claimed
            if send.id not in loaded.held and loaded.verdicts[send.id] is None
        ]
        results = self._composition().compose(tasks, now)
        composed = {task.send.id: result for task, result in zip(tasks, results, strict=True)}
        batch = _Batch(held=sorted(loaded.held))
        for send in claimed:
            if send.id in loaded.held:
                continue
            result: Composed | None = composed.get(send.id)
            if result is None:
                reason = loaded.verdicts[send.id]
                batch.settled.append(SendOutcome(send.id, "suppressed", reply=reason))
            elif isinstance(result, SendOutcome):
                log.warning("outbox %s cannot be sent: %s", send.id, result.reply)
                batch.settled.append(result)
            else:
                batch.prepared.append(Prepared(send, result.envelope))
                if result.links is not None:
                    batch.tracked.append((result.links, send.customer_id))
        return batch

    def _composition(self) -> Composing:
        """Threads, or worker processes (`compose_processes`), started at the first batch."""
        if self._composing is None:
            if self.options.compose_processes > 0:
                self._composing = ComposeProcesses(self.composer, self.options.compose_processes)
            else:
                self._composing = ComposeThreads(self.composer, self.options.compose_threads)
        return self._composing

    def outcome(self, item: Prepared, result: DeliveryResult) -> Recorded:
        send = item.send
        reply = result.reply.strip()[:1000]  # with its enhanced status code, if it has one
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

    def outcome_journal(self) -> OutcomeJournal | None:
        """A journal for a sending flow's outcomes (SQLite), or None: store them at once."""
        if self._journals is None:
            return None
        return OutcomeJournal(self._journals, self.worker_id)

    def write_outcomes(self, items: Sequence[Recorded], at: datetime | None = None) -> None:
        """Store outcomes (had at `at`, by default now): `ended_holders.write_outcomes_of`."""
        write_outcomes_of(self.database, self.worker_id, items, at or self.clock.now())
