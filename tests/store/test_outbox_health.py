"""The outbox's figures for status and metrics, from one grouped query, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import event

from mailengine.delivery_faults import fault_class
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, plan_sends, record_outcomes
from mailengine.store.outbox_health import outbox_health
from mailengine.store.records import SendOutcome
from tests.conftest import NOW
from tests.store.test_outbox import LEASE, planned

# (state, code, reply) as the dispatcher records them: the reply begins with the enhanced code.
OUTCOMES = [
    ("deferred", 450, "4.2.1 mailbox busy"),
    ("deferred", 450, "4.2.1 mailbox busy"),
    ("deferred", 451, "4.7.1 greylisted"),
    ("deferred", 421, "4.7.0 too many connections (at connecting)"),
    ("deferred", 454, "4.7.0 TLS not available"),
    ("deferred", None, "connection dropped: connection lost: the server closed the connection"),
    ("deferred", None, "timeout: no reply in time (120 s) after the data"),
    ("deferred", None, "TLS failed: STARTTLS with 127.0.0.1:25: [SSL] wrong version number"),
    ("deferred", None, "backed off: 5 connection failures in a row to 127.0.0.1:25; next try "
     "in 5 s; the last: connection refused: 127.0.0.1:25: [Errno 111]"),
    ("deferred", None, "connection refused: 127.0.0.1:25: [Errno 111] Connect call failed"),
    ("deferred", None, None),
    ("failed", 550, "5.1.1 no such user"),
    ("failed", 552, "5.3.4 message too big"),
    ("failed", 554, "5.7.1 rejected as spam"),
    ("failed", None, "render error: 'first_name' is undefined"),
    ("failed", None, "gave up after 9 attempts: timeout: no reply in time (120 s)"),
    ("failed", 421, "gave up after 9 attempts: 4.7.0 closing"),
    ("sent", 250, "2.0.0 queued as 1234"),
]  # fmt: skip


def _fill(database: Database) -> None:
    """Planned an hour ago; outcomes recorded half an hour ago, retries due ten minutes ago;
    two still queued (one for later), one still being sent."""
    planned_at = NOW - timedelta(hours=1)
    sent_at = NOW - timedelta(minutes=30)
    rows = len(OUTCOMES)
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(rows + 1)], planned_at)
    with database.transaction() as session:
        claimed = claim_due(session, "w1", sent_at, limit=rows, lease=LEASE)
        outcomes = [
            SendOutcome(send.id, state, code, reply, NOW - timedelta(minutes=10))
            for send, (state, code, reply) in zip(claimed, OUTCOMES, strict=True)
        ]
        record_outcomes(session, "w1", outcomes, sent_at)
    with database.transaction() as session:
        plan_sends(session, [planned(100, not_before=NOW + timedelta(hours=2))], NOW)
        claim_due(session, "w2", NOW - timedelta(minutes=2), limit=1, lease=LEASE)  # row 18
        plan_sends(session, [planned(101)], NOW - timedelta(minutes=20))


def test_counts_by_state_and_by_fault_class_as_the_warnings_name_them(
    database: Database,
) -> None:
    _fill(database)
    with database.session() as session:
        health = outbox_health(session)
    assert {state: health.count(state) for state in health.states} == {
        "queued": 2, "sending": 1, "deferred": 11, "failed": 6, "sent": 1,
    }  # fmt: skip
    assert health.pending == 14
    for state in ("deferred", "failed"):
        expected = Counter(fault_class(code, reply) for s, code, reply in OUTCOMES if s == state)
        assert health.classes(state) == dict(expected), state
    assert next(iter(health.classes("deferred"))) == "mailbox busy (450)"  # largest first
    assert health.classes("deferred")["TLS failed"] == 1
    assert health.classes("failed")["timeout"] == 1  # a give-up keeps its cause


def test_the_oldest_and_the_longest_overdue(database: Database) -> None:
    _fill(database)
    with database.session() as session:
        health = outbox_health(session)
    assert health.overdue_seconds("deferred", NOW) == 600
    assert health.overdue_seconds("queued", NOW) == 1200  # the other one is due in 2 hours
    assert health.age_seconds("queued", NOW) == 1200
    assert health.age_seconds("deferred", NOW) == 3600
    assert health.age_seconds("sending", NOW) == 120  # since it was claimed
    assert health.state("queued").earliest_due == NOW - timedelta(minutes=20)
    assert (health.overdue_seconds("nothing", NOW), health.age_seconds("nothing", NOW)) == (0, 0)


def test_an_empty_outbox(database: Database) -> None:
    with database.session() as session:
        health = outbox_health(session)
    assert (health.states, health.pending, health.classes("deferred")) == ({}, 0, {})


def test_it_is_one_statement(database: Database) -> None:
    _fill(database)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.session() as session:
            outbox_health(session)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert len([s for s in statements if "outbox" in s]) == 1
