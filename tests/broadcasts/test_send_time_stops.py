"""A pause or a cancel holds at send time too: messages a dispatcher had claimed before it
(and handed back unsent when it stopped, or that come back for a retry) are held by a pause
until the resume, and dropped by a cancel, when they are claimed again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, release_claims
from tests.broadcasts.planning_shop import SECRET, Shop, add_customers, broadcast
from tests.conftest import NOW
from tests.engine.harness import REPO

SENDS_AT = NOW + timedelta(hours=1)


def _claimed_then_stopped(database: Database, stop: str) -> Shop:
    """Six customers' mail planned and claimed by a dispatcher; then the broadcast is paused
    or cancelled (`stop`) and the dispatcher, stopping, hands its claims back unsent."""
    add_customers(database, 6)
    shop = Shop(database)
    shop.schedule(broadcast())
    assert shop.planner().run_due(lambda: SENDS_AT) == ["sale"]
    with database.transaction() as session:
        claimed = claim_due(session, "dispatcher-1", SENDS_AT, 100, timedelta(minutes=10))
    assert len(claimed) == 6
    with database.transaction() as session:
        moved = getattr(runs, stop)(session, "sale", SENDS_AT)
        assert (moved.applied, moved.messages) == (True, 0)  # nothing was waiting: all claimed
    with database.transaction() as session:
        assert release_claims(session, "dispatcher-1", [s.id for s in claimed], SENDS_AT) == 6
    assert {row["state"] for row in shop.rows()} == {"queued"}
    return shop


def _dispatcher(database: Database, transport: MemoryTransport) -> Dispatcher:
    composer = Composer(Settings(), TemplateLibrary(REPO / "templates"), SECRET)
    return Dispatcher(database, transport, composer, FrozenClock(SENDS_AT))


@pytest.mark.parametrize("stop", ["pause", "cancel"])
async def test_mail_handed_back_after_a_pause_or_cancel_is_not_sent(
    database: Database, stop: str
) -> None:
    shop = _claimed_then_stopped(database, stop)
    transport = MemoryTransport()
    await _dispatcher(database, transport).drain()
    assert transport.outbox == []
    rows = shop.rows()
    if stop == "cancel":
        assert {(r["state"], r["last_reply"]) for r in rows} == {
            ("suppressed", "broadcast cancelled")
        }
        return
    assert {(r["state"], r["attempts"], r["claimed_by"]) for r in rows} == {("paused", 0, None)}
    with database.transaction() as session:
        assert (
            runs.resume(session, "sale", SENDS_AT + timedelta(minutes=5), shift=False).messages == 6
        )
    report = await _dispatcher(database, transport).drain()
    assert report.sent == 6
    assert sorted(envelope.rcpt_to for envelope in transport.outbox) == sorted(
        row["recipient"] for row in rows
    )
