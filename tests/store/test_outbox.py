"""The outbox contract on SQLite and PostgreSQL: idempotent planning, claims, outcomes, leases."""

from __future__ import annotations

import time
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlmodel import Session

from mailengine.store.database import Database
from mailengine.store.outbox import (
    claim_due,
    claim_holders,
    count_by_state,
    hand_back_claims,
    next_due_at,
    outbox_table,
    pending_count,
    plan_sends,
    record_outcomes,
    renew_claims,
)
from mailengine.store.records import PlannedSend, SendOutcome
from mailengine.store.suppressions import is_suppressed, suppress, suppression_reason
from tests.conftest import NOW
from tests.databases import held_transaction

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


def test_a_claim_takes_the_oldest_due_whatever_their_state(database: Database) -> None:
    """Queued, deferred and lease-expired messages are read separately and merged by due time."""
    with database.transaction() as session:
        due = [planned(n, not_before=NOW + timedelta(minutes=n)) for n in range(6)]
        plan_sends(session, due, NOW)
    later = NOW + timedelta(hours=1)
    with database.transaction() as session:
        first = claim_due(session, "w1", NOW + timedelta(minutes=1), limit=2, lease=LEASE)
        assert [c.recipient for c in first] == ["c0@example.com", "c1@example.com"]
        # c0 is deferred to 3 minutes; c1 stays in `sending` (its dispatcher died).
        retry = SendOutcome(first[0].id, "deferred", 451, "try later", NOW + timedelta(minutes=3))
        record_outcomes(session, "w1", [retry], NOW)
    with database.transaction() as session:
        taken = claim_due(session, "w2", later, limit=4, lease=LEASE)
    # Due at: c1 1 min (lease over), c2 2 min, c0 3 min (deferred), c3 3 min, then c4, c5.
    assert {c.recipient for c in taken} == {f"c{n}@example.com" for n in (1, 2, 0, 3)}
    assert {c.recipient: c.attempts for c in taken}["c0@example.com"] == 2
    with database.transaction() as session:
        rest = claim_due(session, "w2", later, limit=10, lease=LEASE)
    assert [c.recipient for c in rest] == ["c4@example.com", "c5@example.com"]


@pytest.mark.postgres
def test_a_claim_reads_the_queue_in_index_order_on_postgresql(
    database: Database, request: pytest.FixtureRequest
) -> None:
    """Taking a batch must not read and sort the whole queue (it grows with the campaign)."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan")
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(3000)], NOW)
    statements: list[tuple[str, Any]] = []
    with database.transaction() as session:
        connection = session.connection()
        connection.exec_driver_sql("ANALYZE outbox")

        def capture(*args: Any) -> None:
            statements.append((args[2], args[3]))

        event.listen(connection, "before_cursor_execute", capture)
        claim_due(session, "w1", NOW, limit=50, lease=LEASE)
        event.remove(connection, "before_cursor_execute", capture)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + statements[0][0], statements[0][1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        session.rollback()
    # The old single condition read every queued row and sorted them ("Sort Key: outbox...").
    assert "Sort Key: outbox" not in plan, plan
    assert plan.count("Index Scan using ix_outbox_state_due") == 3, plan


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


def test_a_renewed_claim_outlasts_its_first_lease_and_only_its_holder_renews(
    database: Database,
) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(3)], NOW)
    with database.transaction() as session:
        mine = [c.id for c in claim_due(session, "w1", NOW, limit=2, lease=LEASE)]
        (theirs,) = [c.id for c in claim_due(session, "w2", NOW, limit=2, lease=LEASE)]
    renewal = NOW + timedelta(minutes=4)
    with database.transaction() as session:
        assert renew_claims(session, "w1", [*mine, theirs], renewal) == (set(mine), set())
        record_outcomes(session, "w1", [SendOutcome(mine[1], "sent", 250)], renewal)
        # The final one is not renewed, nor busy.
        assert renew_claims(session, "w1", mine, renewal) == ({mine[0]}, set())
    with database.transaction() as session:
        later = NOW + timedelta(minutes=6)  # past the first lease, inside the renewed one
        assert [c.id for c in claim_due(session, "w3", later, 10, LEASE)] == [theirs]
        assert claim_holders(session) == {"w1", "w3"}


def test_a_renewal_skips_a_claim_whose_outcome_is_being_stored(database: Database) -> None:
    """The renewal and an outcome write of one dispatcher, on two connections, deadlocked on
    PostgreSQL (each locking the rows in its own order); the renewal now waits for no row."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: a renewal waits for the write turn")
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(3)], NOW)
    with database.transaction() as session:
        first, second, third = [c.id for c in claim_due(session, "w1", NOW, 3, LEASE)]
    renewal = NOW + timedelta(minutes=4)

    def storing(session: Session) -> int:
        return record_outcomes(session, "w1", [SendOutcome(second, "sent", 250)], renewal)

    with held_transaction(database, storing):
        started = time.monotonic()
        with database.transaction() as session:
            found = renew_claims(session, "w1", [first, second, third], renewal)
        assert time.monotonic() - started < 2
        assert found == ({first, third}, {second})
    with database.transaction() as session:  # its outcome stored: final, no longer held
        assert renew_claims(session, "w1", [first, second, third], renewal) == (
            {first, third},
            set(),
        )


def test_claims_handed_back_are_due_at_once_and_count_as_tried(database: Database) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(3)], NOW)
        plan_sends(session, [planned(9, not_before=NOW + timedelta(hours=1))], NOW)
    later = NOW + timedelta(hours=2)
    with database.transaction() as session:
        taken = {c.id for c in claim_due(session, "gone", later, limit=10, lease=LEASE)}
        assert len(taken) == 4
    with database.transaction() as session:
        assert hand_back_claims(session, ["alive"], later, "not theirs") == 0
        assert hand_back_claims(session, ["gone"], later, "its dispatcher had ended") == 4
        assert claim_holders(session) == set()
    rows = _stored(database)
    assert {(r["state"], r["attempts"], r["claimed_by"]) for r in rows} == {("deferred", 1, None)}
    assert {r["last_reply"] for r in rows} == {"its dispatcher had ended"}
    assert all(r["next_attempt_at"] <= later for r in rows)
    with database.transaction() as session:
        again = claim_due(session, "new", later, limit=10, lease=LEASE)
    assert {c.id for c in again} == taken
    assert {c.attempts for c in again} == {2}


def test_suppression_is_by_hash_and_first_reason_wins(database: Database) -> None:
    with database.transaction() as session:
        assert suppress(session, "Ann@Example.com", "hard-bounce", NOW, "5.1.1 user unknown")
        assert not suppress(session, "ann@example.com", "complaint", NOW)
    with database.session() as session:
        assert is_suppressed(session, "ANN@example.com")
        assert not is_suppressed(session, "bob@example.com")
        assert suppression_reason(session, "ann@example.com") == "hard-bounce"


def _stored(database: Database) -> list[dict[str, Any]]:
    with database.session() as session:
        rows = session.execute(select(outbox_table).order_by(outbox_table.c.id))
        return [dict(row._mapping) for row in rows]


def test_keys_repeated_within_one_call_and_across_calls_are_stored_once(
    database: Database,
) -> None:
    with database.transaction() as session:
        assert plan_sends(session, [planned(1), planned(2), planned(1), planned(3)], NOW) == 3
    with database.transaction() as session:
        assert plan_sends(session, [planned(3), planned(4), planned(4), planned(2)], NOW) == 1
    assert [row["recipient"] for row in _stored(database)] == [
        "c1@example.com",
        "c2@example.com",
        "c3@example.com",
        "c4@example.com",
    ]


def test_planning_many_sends_keeps_their_order_and_skips_known_keys(database: Database) -> None:
    # More than one batch, with repeats on both sides of the batch boundary.
    numbers = [*range(2300), *range(990, 1010), *range(2290, 2310)]
    with database.transaction() as session:
        assert plan_sends(session, [planned(n) for n in range(500)], NOW) == 500
        assert plan_sends(session, [planned(n) for n in numbers], NOW) == 1810
    with database.transaction() as session:
        assert plan_sends(session, [planned(n) for n in numbers], NOW) == 0
    stored = _stored(database)
    assert [row["recipient"] for row in stored] == [f"c{n}@example.com" for n in range(2310)]
    assert len({row["id"] for row in stored}) == 2310


def test_planned_rows_hold_every_value_and_holdouts_are_never_claimed(
    database: Database,
) -> None:
    later = NOW + timedelta(hours=1)
    sends = [
        planned(1, held_out=True, payload={"coupon": {"percent": 10}}),
        planned(
            2,
            kind="transactional",
            workflow_version="v3",
            preheader="Your order",
            payload={"order": {"id": "W1", "lines": [1, 2]}, "note": "Grüße"},
            not_before=later,
        ),
    ]
    with database.transaction() as session:
        assert plan_sends(session, sends, NOW) == 2
    holdout, queued = _stored(database)
    assert (holdout["state"], holdout["attempts"]) == ("suppressed", 0)
    assert holdout["payload"] == {"coupon": {"percent": 10}, "holdout": True}
    assert holdout["last_reply"] == "holdout: in the control group, not sent"
    assert holdout["next_attempt_at"] == NOW
    assert (queued["state"], queued["kind"], queued["workflow_version"]) == (
        "queued",
        "transactional",
        "v3",
    )
    assert (queued["preheader"], queued["last_reply"], queued["customer_id"]) == (
        "Your order",
        None,
        None,
    )
    assert queued["payload"] == {"order": {"id": "W1", "lines": [1, 2]}, "note": "Grüße"}
    assert queued["next_attempt_at"] == later
    for row in (holdout, queued):
        assert (row["created_at"], row["updated_at"]) == (NOW, NOW)
        assert row["created_at"].tzinfo == UTC
        assert (row["sent_at"], row["claimed_by"], row["last_code"]) == (None, None, None)
    with database.transaction() as session:
        claimed = claim_due(session, "w1", later, limit=10, lease=LEASE)
    assert [c.message_id for c in claimed] == ["<m2@shop.example>"]


def test_outcomes_set_sent_at_only_when_sent_and_keep_the_due_time_unless_given(
    database: Database,
) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(4)], NOW)
    with database.transaction() as session:
        claimed = claim_due(session, "w1", NOW, limit=10, lease=LEASE)
    done = NOW + timedelta(minutes=1)
    retry = NOW + timedelta(minutes=30, microseconds=1)
    outcomes = [
        SendOutcome(claimed[0].id, "sent", 250, "2.0.0 Ok"),
        SendOutcome(claimed[1].id, "deferred", 451, "4.3.0 later", next_attempt_at=retry),
        SendOutcome(claimed[2].id, "failed", 550, "x" * 1500),
        SendOutcome(claimed[3].id, "suppressed", None, ""),
    ]
    with database.transaction() as session:
        assert record_outcomes(session, "w1", outcomes, done) == 4
    sent, deferred, failed, suppressed = _stored(database)
    assert (sent["state"], sent["last_code"], sent["last_reply"]) == ("sent", 250, "2.0.0 Ok")
    assert (sent["sent_at"], sent["next_attempt_at"]) == (done, NOW)
    assert (deferred["state"], deferred["sent_at"], deferred["next_attempt_at"]) == (
        "deferred",
        None,
        retry,
    )
    assert (failed["last_reply"], failed["sent_at"]) == ("x" * 1000, None)
    assert (suppressed["last_code"], suppressed["last_reply"]) == (None, None)
    for row in (sent, deferred, failed, suppressed):
        assert (row["claimed_by"], row["updated_at"], row["claimed_at"]) == (None, done, NOW)
        assert row["updated_at"].tzinfo == UTC
    # The retry is due to the microsecond: stored times compare as the times they name.
    with database.transaction() as session:
        assert claim_due(session, "w1", retry - timedelta(microseconds=1), 10, LEASE) == []
        assert [c.id for c in claim_due(session, "w1", retry, 10, LEASE)] == [claimed[1].id]


def test_outcomes_for_messages_another_worker_claimed_are_left_alone(
    database: Database,
) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(n) for n in range(4)], NOW)
    with database.transaction() as session:
        mine = claim_due(session, "w1", NOW, limit=2, lease=LEASE)
        theirs = claim_due(session, "w2", NOW, limit=2, lease=LEASE)
    outcomes = [SendOutcome(send.id, "sent", 250) for send in [*mine, *theirs]]
    with database.transaction() as session:
        assert record_outcomes(session, "w1", outcomes, NOW) == 2
    states = [(row["state"], row["claimed_by"]) for row in _stored(database)]
    assert states == [("sent", None), ("sent", None), ("sending", "w2"), ("sending", "w2")]


def test_the_first_of_two_outcomes_for_one_message_counts(database: Database) -> None:
    with database.transaction() as session:
        plan_sends(session, [planned(1)], NOW)
    with database.transaction() as session:
        (send,) = claim_due(session, "w1", NOW, limit=10, lease=LEASE)
    twice = [SendOutcome(send.id, "sent", 250), SendOutcome(send.id, "failed", 550)]
    with database.transaction() as session:
        assert record_outcomes(session, "w1", twice, NOW) == 1
    assert [(row["state"], row["last_code"]) for row in _stored(database)] == [("sent", 250)]


def test_times_with_any_offset_are_stored_in_utc_and_naive_ones_refused(
    database: Database,
) -> None:
    berlin = timezone(timedelta(hours=1))
    with database.transaction() as session:
        plan_sends(session, [planned(1)], NOW.astimezone(berlin))
    with database.transaction() as session:
        (send,) = claim_due(session, "w1", NOW, limit=10, lease=LEASE)
    retry = (NOW + timedelta(minutes=5)).astimezone(berlin)
    outcome = SendOutcome(send.id, "deferred", 451, next_attempt_at=retry)
    with database.transaction() as session:
        assert record_outcomes(session, "w1", [outcome], NOW.astimezone(berlin)) == 1
    (row,) = _stored(database)
    assert (row["created_at"], row["updated_at"], row["next_attempt_at"]) == (NOW, NOW, retry)
    assert row["next_attempt_at"].tzinfo == UTC
    if not database.is_postgresql:
        # The text UTCDateTime writes on SQLite, whichever statement wrote it.
        with database.session() as session:
            stored = session.connection().exec_driver_sql(
                "SELECT created_at, updated_at, next_attempt_at FROM outbox"
            )
            assert stored.one() == (
                "2026-11-23 09:00:00.000000",
                "2026-11-23 09:00:00.000000",
                "2026-11-23 09:05:00.000000",
            )
    naive = NOW.replace(tzinfo=None)
    with database.transaction() as session, pytest.raises(ValueError, match="naive"):
        plan_sends(session, [planned(2)], naive)
    with database.transaction() as session, pytest.raises(ValueError, match="naive"):
        record_outcomes(session, "w1", [SendOutcome(send.id, "sent", next_attempt_at=naive)], NOW)
