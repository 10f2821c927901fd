"""The outbox contract on SQLite and PostgreSQL: idempotent planning, claims, outcomes, leases."""

from __future__ import annotations

from datetime import timedelta

from mailengine.store.database import Database
from mailengine.store.outbox import (
    claim_due,
    count_by_state,
    next_due_at,
    pending_count,
    plan_sends,
    record_outcomes,
)
from mailengine.store.records import PlannedSend, SendOutcome
from mailengine.store.suppressions import is_suppressed, suppress, suppression_reason
from tests.conftest import NOW

LEASE = timedelta(minutes=5)


def planned(number: int, **extra: object) -> PlannedSend:
    values: dict[str, object] = {
        "idempotency_key": f"welcome:1:{number}:0",
        "workflow": "welcome",
        "step": "1",
        "customer_id": None,
        "recipient": f"c{number}@example.com",
        "template": "welcome/hello",
        "subject": "Hello {{ customer.first_name }}",
        "message_id": f"<m{number}@shop.example>",
    }
    values.update(extra)
    return PlannedSend(**values)  # type: ignore[arg-type]


def test_planning_the_same_send_twice_stores_one_row(database: Database) -> None:
    with database.transaction() as session:
        assert plan_sends(session, [planned(1), planned(2)], NOW) == 2
    with database.transaction() as session:
        assert plan_sends(session, [planned(2), planned(3)], NOW) == 1
        assert count_by_state(session) == {"queued": 3}


def test_claims_are_ordered_exclusive_and_counted(database: Database) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(5)], NOW)
        plan_sends(session, [planned(9, not_before=NOW + timedelta(hours=1))], NOW)
    with database.transaction() as session:
        first = claim_due(session, "w1", NOW, limit=3, lease=LEASE)
    with database.transaction() as session:
        second = claim_due(session, "w2", NOW, limit=10, lease=LEASE)
    assert [c.recipient for c in first] == ["c0@example.com", "c1@example.com", "c2@example.com"]
    assert [c.recipient for c in second] == ["c3@example.com", "c4@example.com"]
    assert all(c.attempts == 1 for c in first + second)
    assert first[0].message_id == "<m0@shop.example>"
    with database.session() as session:
        assert count_by_state(session) == {"sending": 5, "queued": 1}
        assert pending_count(session) == 6
        assert next_due_at(session) == NOW + timedelta(hours=1)


def test_outcomes_finish_or_reschedule_messages(database: Database) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(4)], NOW)
    with database.transaction() as session:
        claimed = claim_due(session, "w1", NOW, limit=10, lease=LEASE)
    later = NOW + timedelta(minutes=10)
    outcomes = [
        SendOutcome(claimed[0].id, "sent", 250, "2.0.0 Ok: queued"),
        SendOutcome(claimed[1].id, "deferred", 451, "4.3.0 try later", next_attempt_at=later),
        SendOutcome(claimed[2].id, "failed", 550, "5.1.1 no such user"),
        SendOutcome(claimed[3].id, "suppressed", None, "no consent at send time"),
    ]
    with database.transaction() as session:
        assert record_outcomes(session, "w1", outcomes, NOW) == 4
    with database.transaction() as session:
        assert count_by_state(session) == {"sent": 1, "deferred": 1, "failed": 1, "suppressed": 1}
        assert claim_due(session, "w1", NOW + timedelta(minutes=9), limit=10, lease=LEASE) == []
        retry = claim_due(session, "w1", later, limit=10, lease=LEASE)
    assert [(c.recipient, c.attempts) for c in retry] == [("c1@example.com", 2)]


def test_a_dead_dispatchers_messages_are_claimed_again_after_the_lease(
    database: Database,
) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(1)], NOW)
    with database.transaction() as session:
        taken = claim_due(session, "dead", NOW, limit=10, lease=LEASE)
    with database.transaction() as session:
        assert claim_due(session, "alive", NOW + timedelta(minutes=4), 10, LEASE) == []
    with database.transaction() as session:
        again = claim_due(session, "alive", NOW + timedelta(minutes=6), 10, LEASE)
    assert [c.message_id for c in again] == [c.message_id for c in taken]
    assert again[0].attempts == 2
    # The dead dispatcher's late report no longer applies; the new owner's does.
    with database.transaction() as session:
        assert record_outcomes(session, "dead", [SendOutcome(again[0].id, "failed")], NOW) == 0
        assert record_outcomes(session, "alive", [SendOutcome(again[0].id, "sent", 250)], NOW) == 1


def test_suppression_is_by_hash_and_first_reason_wins(database: Database) -> None:
    with database.transaction() as session:
        assert suppress(session, "Ann@Example.com", "hard-bounce", NOW, "5.1.1 user unknown")
        assert not suppress(session, "ann@example.com", "complaint", NOW)
    with database.session() as session:
        assert is_suppressed(session, "ANN@example.com")
        assert not is_suppressed(session, "bob@example.com")
        assert suppression_reason(session, "ann@example.com") == "hard-bounce"
