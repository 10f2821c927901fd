"""Continuous sending: a domain whose server stalls holds only its share of the connections,
every other domain keeps flowing, and a stop hands back at once what was not finished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from tests.delivery.conftest import add_customers, plan
from tests.delivery.slow_peers import ArrivalsHandler
from tests.transport.conftest import SmtpServer, start_server

STALLED = "stall.example"


@pytest.fixture
async def stalling_server() -> AsyncIterator[SmtpServer]:
    """Answers at once, except to mail for stall.example: no reply after its data."""
    handler = ArrivalsHandler(stalled_domain=STALLED)
    server = await start_server(handler)
    yield server
    handler.release.set()
    await server.close()


async def test_a_stalling_domain_holds_only_its_share_and_a_stop_hands_back_at_once(
    database: Database, composer: Composer, clock: FrozenClock, stalling_server: SmtpServer
) -> None:
    handler = stalling_server.handler
    assert isinstance(handler, ArrivalsHandler)
    stalled = [(f"s{n}@{STALLED}", f"S{n}", "granted") for n in range(6)]
    others = [(f"o{n}@{d}.example", f"O{n}", "granted") for n in range(10) for d in "abc"]
    plan(database, add_customers(database, stalled))  # first in line
    plan(database, add_customers(database, others))
    transport = SmtpTransport(
        SmtpOptions(
            port=stalling_server.port,
            connections=4,
            timeouts=SmtpTimeouts().capped(60),  # the stall outlasts the test
            local_hostname="flow.test",
        )
    )
    dispatcher = Dispatcher(
        database, transport, composer, clock, options=DispatchOptions(batch_size=50)
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(dispatcher.serve(stop, idle_seconds=0.05, grace_seconds=0.5))
    try:
        # The stalled domain takes 3 of the 4 connections (its default share), no more.
        assert await handler.wait_for(3 + len(others), within=20), (
            f"{len(handler.arrivals)} of {len(others)} arrived; stalled: {handler.stalled}"
        )
        assert len(handler.stalled) == 3
        assert {rcpt for rcpt, _ in handler.arrivals} == {email for email, _, _ in others}
        stop.set()
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        await asyncio.wait_for(asyncio.shield(serving), timeout=20)
        assert loop.time() - stopped_at < 10  # the grace, then back at once
    finally:
        stop.set()
        if not serving.done():
            serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await transport.aclose()
    o = outbox_table.c
    with database.session() as session:
        rows = session.execute(
            select(o.recipient, o.state, o.attempts, o.claimed_by, o.next_attempt_at).where(
                o.recipient.like(f"%@{STALLED}")
            )
        ).all()
    # Nothing stays `sending` for the lease: all six are due again now, none claimed.
    assert {row.state for row in rows} <= {"queued", "deferred"}, rows
    assert all(row.claimed_by is None and row.next_attempt_at <= clock.now() for row in rows)
    abandoned = {row.recipient for row in rows if row.attempts == 1}
    assert abandoned == set(handler.stalled)  # their transactions began: counted as tried
    assert sorted(row.attempts for row in rows) == [0, 0, 0, 1, 1, 1]
