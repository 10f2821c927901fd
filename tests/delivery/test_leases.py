"""Claims that hold while messages are really held: sending that outlasts the lease sends
each message once, and a claim too close to its end is handed back, never sent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from mailengine.clock import Clock, FrozenClock, RunningClock
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions
from mailengine.outbound.transport.base import DeliveryResult, Envelope
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.owners import owner_identity
from mailengine.store.database import Database
from mailengine.store.outbox import Renewal, claim_due, count_by_state, outbox_table
from mailengine.store.records import ClaimedSend
from tests.conftest import NOW
from tests.delivery.conftest import add_customers, make_dispatcher, plan
from tests.delivery.slow_peers import ArrivalsHandler
from tests.transport.conftest import SmtpServer, start_server

PAUSE = 0.3  # the server's time per message
LEASE = timedelta(seconds=1.2)


class BoundedSmtpTransport(SmtpTransport):
    """SMTP to the test's server, which answers every message within PAUSE seconds: the
    longest a send takes there is stated as a transport with a total deadline states it."""

    @property
    def longest_send_seconds(self) -> float:
        return 2 * PAUSE


@pytest.fixture
async def slow_server() -> AsyncIterator[SmtpServer]:
    server = await start_server(ArrivalsHandler(pause=PAUSE))
    yield server
    await server.close()


def _transport(server: SmtpServer, connections: int) -> SmtpTransport:
    options = SmtpOptions(
        port=server.port,
        connections=connections,
        timeouts=SmtpTimeouts().capped(10),
        local_hostname="lease.test",
    )
    return BoundedSmtpTransport(options)


async def test_sending_that_outlasts_the_lease_sends_every_message_once(
    database: Database, composer: Composer, slow_server: SmtpServer
) -> None:
    """Two batches of 15 over 3 connections: each batch takes 1.5 s to send, longer than the
    1.2 s lease, while the next batch is held ahead. Without renewal the claim after the first
    batch took back the second batch's rows, and 30 planned messages arrived as 45."""
    people = [(f"p{n}@example.com", f"P{n}", "granted") for n in range(30)]
    plan(database, add_customers(database, people))
    handler = slow_server.handler
    assert isinstance(handler, ArrivalsHandler)
    transport = _transport(slow_server, connections=3)
    dispatcher = Dispatcher(
        database,
        transport,
        composer,
        RunningClock(NOW),
        options=DispatchOptions(batch_size=15, lease=LEASE),
    )
    try:
        for _ in range(20):  # drain until every row is final (a handed-back row comes again)
            await dispatcher.drain()
            with database.session() as session:
                if set(count_by_state(session)) == {"sent"}:
                    break
    finally:
        await transport.aclose()
        dispatcher.close()
    arrivals = Counter(handler.arrivals)
    assert len(handler.arrivals) == 30, f"{len(handler.arrivals)} arrived for 30 planned"
    assert max(arrivals.values()) == 1
    with database.session() as session:
        assert count_by_state(session) == {"sent": 30}
        assert set(session.scalars(select(outbox_table.c.attempts))) == {1}


class _Unrenewable(Dispatcher):
    """A dispatcher whose renewals fail (its database connection is gone, say); it notes
    when each message was claimed."""

    claimed_at: dict[str, datetime]

    def renew(self, outbox_ids: Sequence[int], now: datetime) -> Renewal:
        raise OperationalError("UPDATE outbox", {}, Exception("the connection is gone"))

    def _claim(self, now: datetime, size: int) -> list[ClaimedSend]:
        claimed = super()._claim(now, size)
        self.claimed_at.update((send.message_id, now) for send in claimed)
        return claimed


async def _send_eight(database: Database, dispatcher: Dispatcher) -> None:
    """Plan mail to eight customers and drain until all is sent (20 rounds at most)."""
    plan(
        database,
        add_customers(database, [(f"p{n}@example.com", f"P{n}", "granted") for n in range(8)]),
    )
    try:
        for _ in range(20):
            await dispatcher.drain()
            with database.session() as session:
                if set(count_by_state(session)) == {"sent"}:
                    break
    finally:
        dispatcher.close()


class _NotingTransport(MemoryTransport):
    """One connection, PAUSE seconds a message; notes when each send began."""

    concurrency = 1

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.began: dict[str, datetime] = {}

    @property
    def longest_send_seconds(self) -> float:
        return 2 * PAUSE

    async def _deliver(self, envelope: Envelope) -> DeliveryResult:
        self.began[envelope.message_id] = self.clock.now()
        await asyncio.sleep(PAUSE)
        return await super()._deliver(envelope)


D = TypeVar("D", bound=Dispatcher)


def _noted(kind: type[D], database: Database, composer: Composer) -> tuple[_NotingTransport, D]:
    """A dispatcher of `kind` in batches of 4 under the short lease, sending through a
    transport that notes when each send began."""
    clock = RunningClock(NOW)
    transport = _NotingTransport(clock)
    options = DispatchOptions(batch_size=4, lease=LEASE)
    return transport, kind(database, transport, composer, clock, options=options)


async def test_a_claim_that_no_longer_outlasts_a_send_is_handed_back_unsent(
    database: Database, composer: Composer, caplog: pytest.LogCaptureFixture
) -> None:
    transport, dispatcher = _noted(_Unrenewable, database, composer)
    dispatcher.claimed_at = {}
    await _send_eight(database, dispatcher)
    assert sorted(Counter(e.message_id for e in transport.outbox).values()) == [1] * 8
    # Each send began while its claim still outlasted the longest send ...
    margin = LEASE - timedelta(seconds=transport.longest_send_seconds)
    late = {
        message_id: (began - dispatcher.claimed_at[message_id]).total_seconds()
        for message_id, began in transport.began.items()
        if began - dispatcher.claimed_at[message_id] >= margin
    }
    assert not late
    # ... so those that waited longer were handed back unsent, and taken again.
    assert "claims no longer outlast a send; handed back unsent" in caplog.text
    with database.session() as session:
        assert set(session.scalars(select(outbox_table.c.attempts))) == {1}


class _AlwaysBusy(Dispatcher):
    """A dispatcher whose every claim is busy at each renewal (another transaction has it
    locked, as when its outcome is being stored)."""

    def renew(self, outbox_ids: Sequence[int], now: datetime) -> Renewal:
        return Renewal(set(), set(outbox_ids))


async def test_a_busy_claim_is_neither_renewed_nor_lost(
    database: Database, composer: Composer, caplog: pytest.LogCaptureFixture
) -> None:
    transport, dispatcher = _noted(_AlwaysBusy, database, composer)
    await _send_eight(database, dispatcher)
    assert sorted(Counter(e.message_id for e in transport.outbox).values()) == [1] * 8
    # Not taken for another dispatcher's: none was dropped as lost ...
    assert "claimed by another dispatcher" not in caplog.text
    # ... nor counted as renewed: those that waited past their lease's margin went back unsent.
    assert "claims no longer outlast a send; handed back unsent" in caplog.text


@pytest.fixture
def ended() -> str:
    """The identity of a dispatcher whose process has ended."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from mailengine.owners import owner_identity as o; print(o())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def test_an_ended_holders_claims_are_taken_up_at_once_a_live_ones_never(
    database: Database, composer: Composer, clock: FrozenClock, ended: str
) -> None:
    holders = [
        ended,
        owner_identity(),  # another dispatcher of this very process: alive
        f"elsewhere/0123abcd:{os.getpid()}:1f.abcdef",  # another host: wait for the lease
        "worker-7",  # not an owner identity: wait for the lease
    ]
    people = [(f"p{n}@example.com", f"P{n}", "granted") for n in range(len(holders) + 1)]
    plan(database, add_customers(database, people))
    for holder in holders:
        with database.transaction() as session:
            claim_due(session, holder, clock.now(), 1, timedelta(minutes=10))
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert report.sent == 2  # the ended holder's message, and the one nobody held
    o = outbox_table.c
    with database.session() as session:
        held = session.scalars(select(o.claimed_by).where(o.state == "sending")).all()
    assert sorted(held) == sorted(holders[1:])
