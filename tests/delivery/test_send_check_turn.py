"""A claimed batch that only reads at send time (order confirmations: no coupon, no broadcast to
hold) is checked without SQLite's write turn, so it neither waits for the API's writers nor
holds them back; the checks still see an address suppressed after planning."""

from __future__ import annotations

import threading
from pathlib import Path

from mailengine.clock import FrozenClock
from mailengine.outbound.composer import Composer
from mailengine.outbound.send_checks import Checked
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.suppressions import suppress
from mailengine.store.write_turn import WriteTurn
from tests.conftest import NOW
from tests.delivery.conftest import add_customers, make_dispatcher, plan

PEOPLE = [("anna@example.com", "Anna", "granted"), ("ben@example.com", "Ben", "granted")]


def test_order_mail_is_checked_while_another_process_holds_the_write_turn(
    sqlite_database: Database, composer: Composer, clock: FrozenClock
) -> None:
    database = sqlite_database
    ids = add_customers(database, PEOPLE)
    plan(database, ids, template="thank-you/order-confirmed", kind="transactional")
    dispatcher = make_dispatcher(database, MemoryTransport(), composer, clock)
    claimed = dispatcher._claim(NOW, 10)
    with database.transaction() as session:
        suppress(session, "ben@example.com", "hard-bounce", NOW)
    # Another process's write turn (a WriteTurn of its own opens the lock file anew).
    other = WriteTurn(Path(database.engine.url.database or ""), wait_seconds=30)
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
