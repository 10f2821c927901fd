"""A claimed batch's send-time checks read without SQLite's write turn (order confirmations,
marketing mail alike), so they neither wait for the API's writers nor hold them back; the
checks still see an address suppressed after planning, and a batch with coupons to issue
takes a turn only to issue them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from mailengine.clock import FrozenClock
from mailengine.outbound import Dispatcher
from mailengine.outbound.composer import Composer
from mailengine.outbound.send_checks import Checked
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.models import Coupon
from mailengine.store.records import ClaimedSend
from mailengine.store.suppressions import suppress
from mailengine.store.write_turn import WriteTurn
from tests.conftest import NOW
from tests.delivery.conftest import add_customers, make_dispatcher, plan

PEOPLE = [("anna@example.com", "Anna", "granted"), ("ben@example.com", "Ben", "granted")]


def _claimed_then_ben_suppressed(
    database: Database, composer: Composer, clock: FrozenClock, **planned: Any
) -> tuple[Dispatcher, list[ClaimedSend], WriteTurn]:
    """Anna's and Ben's mail planned and claimed, Ben's address suppressed after; and another
    process's write turn (a WriteTurn of its own opens the lock file anew)."""
    ids = add_customers(database, PEOPLE)
    plan(database, ids, **planned)
    dispatcher = make_dispatcher(database, MemoryTransport(), composer, clock)
    claimed = dispatcher._claim(NOW, 10)
    with database.transaction() as session:
        suppress(session, "ben@example.com", "hard-bounce", NOW)
    return dispatcher, claimed, WriteTurn(Path(database.engine.url.database or ""), 30)


@pytest.mark.parametrize(
    ("template", "kind"),
    [("thank-you/order-confirmed", "transactional"), ("welcome/hello", "marketing")],
)
def test_mail_is_checked_while_another_process_holds_the_write_turn(
    sqlite_database: Database, composer: Composer, clock: FrozenClock, template: str, kind: str
) -> None:
    dispatcher, claimed, other = _claimed_then_ben_suppressed(
        sqlite_database, composer, clock, template=template, kind=kind
    )
    checked: list[Checked] = []
    with other():
        loading = threading.Thread(target=lambda: checked.append(dispatcher._load(claimed, NOW)))
        loading.start()
        loading.join(5)
        assert checked, "the send-time checks waited for the write turn"
    verdicts = {send.recipient: checked[0].verdicts[send.id] for send in claimed}
    assert verdicts == {
        "anna@example.com": None,
        "ben@example.com": "address suppressed (hard-bounce)",
    }
    dispatcher.close()


def test_a_batch_with_coupons_waits_for_the_turn_only_to_issue_them(
    sqlite_database: Database, composer: Composer, clock: FrozenClock
) -> None:
    offer = {"percent": 10, "valid_seconds": 86400}
    dispatcher, claimed, other = _claimed_then_ben_suppressed(
        sqlite_database, composer, clock, template="welcome/hello", kind="marketing", coupon=offer
    )
    checked: list[Checked] = []
    loading = threading.Thread(target=lambda: checked.append(dispatcher._load(claimed, NOW)))
    with other():
        loading.start()
        loading.join(0.5)
        assert not checked, "coupons were issued without the write turn"
    loading.join(5)
    by_address = {send.recipient: send.id for send in claimed}
    anna, ben = by_address["anna@example.com"], by_address["ben@example.com"]
    assert checked[0].verdicts[ben] == "address suppressed (hard-bounce)"
    assert set(checked[0].coupons) == {anna}  # none for the message that may not go
    with sqlite_database.session() as session:
        stored = session.exec(select(Coupon)).all()
    assert [coupon.code for coupon in stored] == [checked[0].coupons[anna].code]
    dispatcher.close()
