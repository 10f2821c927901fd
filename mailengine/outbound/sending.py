"""Continuous sending: SMTP workers take the next composed message as soon as they are free.

A producer claims and composes the next batch while the last one is still being sent (one
batch ahead: it claims again once fewer than `batch_size` messages are ready to go). A batch
is sent only once all of it is composed, so after an idle spell the first claim is small
(`FIRST_CLAIM`: the first confirmation waits for a few to be composed, not for hundreds) and
each claim that found mail doubles the next, up to `batch_size`. Each of
the transport's `concurrency` workers takes the next message whose recipient domain has
fewer than its share of the connections in flight, so a domain whose server stalls holds no
more than that share while the other domains keep flowing, and a straggler holds only its
own connection. Every worker records its message's outcome before it takes the next one:
stored (group-committed with the other workers'), or on SQLite kept in the dispatcher's
outcome journal and stored in groups as the write turn comes (`outcome_journal`; the claim
is renewed until then). At most `concurrency` messages are ever sent but unrecorded, the
most a crash can send twice.

A heartbeat renews the claims held here (see `leases`); a message whose claim no longer
outlasts a send is handed back unsent. On a stop nothing more is claimed, workers finish
the message they hold (for up to the grace), and then everything still held is handed back
at once: messages not begun as they were, transactions cut short as tried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from mailengine.clock import Clock
from mailengine.outbound.domain_queue import DomainQueue, Prepared
from mailengine.outbound.group_commit import GroupCommit, Recorded
from mailengine.outbound.leases import Leases
from mailengine.outbound.outcome_journal import OutcomeJournal
from mailengine.outbound.transport.base import (
    DeliveryResult,
    DeliveryStatus,
    InvalidEnvelopeError,
    Transport,
)
from mailengine.store.outbox import Renewal
from mailengine.store.records import SendOutcome

log = logging.getLogger(__name__)

ABANDONED = "handed back at shutdown: the transaction was cut short, the server may have it"
FIRST_CLAIM = 16
"""Messages claimed at first after an idle spell (then twice as many each time, up to the
batch size)."""
READY_AHEAD = 4
"""Messages of domains at their share may wait beyond the batch taken ahead, up to this many
batches in all, so that the next batch still brings the other domains' mail."""


class Outbox(Protocol):
    """What the flow needs from its dispatcher."""

    transport: Transport
    clock: Clock
    planned: asyncio.Event  # set when mail may have become due (cleared before each look)

    async def next_batch(self, leases: Leases, size: int) -> list[Prepared] | None:
        """Claim up to `size` (holding the claims in `leases`) and compose; None when nothing
        is due."""

    def outcome(self, item: Prepared, result: DeliveryResult) -> Recorded: ...

    def outcome_journal(self) -> OutcomeJournal | None:
        """Where outcomes are kept until stored, or None: workers wait for the database."""

    def write_outcomes(self, items: Sequence[Recorded], at: datetime | None = None) -> None: ...

    def counted(self, state: str) -> None: ...

    def renew(self, outbox_ids: Sequence[int], now: datetime) -> Renewal: ...

    def release(self, outbox_ids: Sequence[int]) -> None:
        """Hand back unsent messages as they were before the claim, due at once."""

    def hand_back(self, outbox_ids: Sequence[int], reason: str) -> None:
        """Hand back messages whose transaction may have begun, due at once."""


class SendingFlow:
    """One run of continuous sending, until nothing is due (`drain`) or a stop."""

    def __init__(self, outbox: Outbox, leases: Leases, *, batch_size: int, share: int) -> None:
        self._outbox = outbox
        self._leases = leases
        self._batch_size = batch_size
        self._waiting = DomainQueue(share)
        self._in_flight: dict[int, Prepared] = {}
        self._recorder = GroupCommit(
            outbox.write_outcomes, outbox.clock.now, self._stored, journal=outbox.outcome_journal()
        )
        self._unrecorded: list[Recorded] = []
        self._failure: BaseException | None = None

    async def run(
        self, stop: asyncio.Event, idle_seconds: float | None, grace_seconds: float | None
    ) -> None:
        """Send until nothing is due (`idle_seconds` None) or until `stop`; then finish the
        messages in flight for up to `grace_seconds` and hand back what is left."""
        workers = {asyncio.create_task(self._work()) for _ in range(self._outbox_concurrency())}
        heartbeat = asyncio.create_task(self._heartbeat())
        closer = asyncio.create_task(self._close_on(stop))
        producer = asyncio.create_task(self._produce(stop, idle_seconds))
        self._recorder.retry()  # outcomes an earlier flow journaled and did not store
        cancelled = False
        try:
            await producer
            await self._finish(workers, stop, grace_seconds)
        except asyncio.CancelledError:  # the caller's own deadline: cut short at once
            cancelled = True
            raise
        finally:
            self._waiting.close()
            closer.cancel()
            await asyncio.gather(producer, return_exceptions=True)  # its batch, handed back
            await self._finish(workers, stop, 0.0, until_stop=not cancelled)
            await self._recorder.settle()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, closer, return_exceptions=True)
            await self._hand_back_the_rest()
            self._recorder.close()
        if self._failure is not None:
            raise self._failure

    def _outbox_concurrency(self) -> int:
        return max(1, self._outbox.transport.concurrency)

    async def _close_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._waiting.close()

    async def _finish(
        self,
        workers: set[asyncio.Task[None]],
        stop: asyncio.Event,
        grace: float | None,
        *,
        until_stop: bool = True,
    ) -> None:
        """Wait for the workers: all of them until a stop, then up to `grace` seconds; those
        still sending then are cut short."""
        pending = {task for task in workers if not task.done()}
        if pending and until_stop and not stop.is_set():
            stopping = asyncio.create_task(_stopped(stop))
            while pending and not stop.is_set():
                done, _ = await asyncio.wait(
                    {*pending, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
            stopping.cancel()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # The producer

    async def _produce(self, stop: asyncio.Event, idle_seconds: float | None) -> None:
        waiting = self._waiting
        size = first = min(FIRST_CLAIM, self._batch_size)
        while not waiting.closed:
            await waiting.room_for(self._batch_size, READY_AHEAD * self._batch_size)
            if waiting.closed:
                return
            self._outbox.planned.clear()  # a nudge from now on means another look
            try:
                batch = await self._outbox.next_batch(self._leases, size)
            except Exception:
                if idle_seconds is None:
                    raise
                # a database hiccup must not stop the engine; try again soon
                log.exception("claiming or composing a batch failed; trying again shortly")
                batch = None
            else:
                if batch is None and idle_seconds is None:
                    waiting.complete()
                    return
            if batch is not None:
                waiting.put(batch)
                size = min(2 * size, self._batch_size)  # mail keeps coming: claim more
                continue
            size = first
            await _first_of(stop, self._outbox.planned, idle_seconds)

    # The workers

    async def _work(self) -> None:
        waiting, leases, outbox = self._waiting, self._leases, self._outbox
        while (item := await waiting.take()) is not None:
            if not leases.outlasts_send(item.send.id, outbox.clock.now()):
                waiting.done(item)
                await self._hand_back_stale(item)
                continue
            self._in_flight[item.send.id] = item
            self._recorder.busy += 1
            try:
                result = await self._send(item)
            except Exception as error:  # a programming or configuration error
                log.exception("sending outbox %s failed; handing it back", item.send.id)
                self._failure = error
                waiting.close()
                return
            finally:
                waiting.done(item)
            del self._in_flight[item.send.id]
            await self._record(item, *outbox.outcome(item, result))
            self._recorder.busy -= 1

    async def _send(self, item: Prepared) -> DeliveryResult:
        try:
            return await self._outbox.transport.send(item.envelope)
        except InvalidEnvelopeError as error:
            return DeliveryResult(
                DeliveryStatus.FAILED, item.envelope.message_id, reply=error.message
            )

    async def _record(self, item: Prepared, outcome: SendOutcome, address: str | None) -> None:
        try:
            await self._recorder.record(outcome, address)
        except Exception as error:
            # Kept, with the claim, and stored with the next renewal.
            log.warning("storing the outcome of outbox %s failed: %s", item.send.id, error)
            self._unrecorded.append((outcome, address))

    def _stored(self, items: Sequence[Recorded]) -> None:
        """These outcomes are in the database: their claims end here."""
        for outcome, _ in items:
            self._leases.let_go((outcome.outbox_id,))
            self._outbox.counted(outcome.state)

    async def _hand_back_stale(self, item: Prepared) -> None:
        """Hand back this message and every waiting one whose claim no longer outlasts a
        send (renewal is late, or failing): another dispatcher may take them soon."""
        now = self._outbox.clock.now()
        leases = self._leases
        stale = [item, *self._waiting.remove(lambda p: not leases.outlasts_send(p.send.id, now))]
        ids = [p.send.id for p in stale]
        self._leases.let_go(ids)
        log.warning("outbox: %d claims no longer outlast a send; handed back unsent", len(ids))
        try:
            await asyncio.to_thread(self._outbox.release, ids)
        except Exception:
            log.exception("handing back %d messages failed; they come back by lease", len(ids))

    # The heartbeat

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._leases.renew_every)
            self._recorder.retry()
            await self._store_unrecorded()
            await self._renew()

    async def _renew(self) -> None:
        ids = self._leases.held()
        if not ids:
            return
        now = self._outbox.clock.now()
        try:
            renewal = await asyncio.to_thread(self._outbox.renew, ids, now)
        except Exception as error:
            log.warning("renewing %d claims failed: %s", len(ids), error)
            return
        # A busy claim (its outcome being stored) is neither renewed nor lost: the next round.
        asked = [outbox_id for outbox_id in ids if outbox_id not in renewal.busy]
        lost = set(self._leases.renewed(asked, renewal.renewed, now))
        if lost:
            dropped = self._waiting.remove(lambda p: p.send.id in lost)
            if dropped:
                log.warning(
                    "outbox: %d messages taken ahead here were claimed by another dispatcher; "
                    "they are not sent from here",
                    len(dropped),
                )

    async def _store_unrecorded(self) -> None:
        if not self._unrecorded:
            return
        items, self._unrecorded = self._unrecorded, []
        try:
            await asyncio.to_thread(self._outbox.write_outcomes, items)
        except Exception as error:
            log.warning("storing %d outcomes failed again: %s", len(items), error)
            self._unrecorded = items + self._unrecorded
            return
        for outcome, _ in items:
            self._leases.let_go((outcome.outbox_id,))
            self._outbox.counted(outcome.state)

    # Shutdown

    async def _hand_back_the_rest(self) -> None:
        """What is still held: unsent messages as they were, cut-short ones as tried."""
        await self._store_unrecorded()
        unsent = [item.send.id for item in self._waiting.take_all()]
        abandoned = list(self._in_flight)
        self._in_flight.clear()
        self._leases.let_go(unsent + abandoned)
        outbox = self._outbox
        steps: list[tuple[list[int], Callable[[list[int]], None], str]] = [
            (unsent, outbox.release, "held and handed back unsent"),
            (abandoned, lambda ids: outbox.hand_back(ids, ABANDONED), "cut short, handed back"),
        ]
        for ids, hand_back, what in steps:
            if not ids:
                continue
            try:
                await asyncio.to_thread(hand_back, ids)
            except Exception:
                log.exception("handing back %d messages failed; they come back by lease", len(ids))
            else:
                log.info("outbox: %d %s", len(ids), what)


async def _stopped(stop: asyncio.Event) -> None:
    await stop.wait()


async def _first_of(stop: asyncio.Event, planned: asyncio.Event, seconds: float | None) -> None:
    """Wait until `stop`, `planned` or `seconds` have passed."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(planned.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
