"""The engine's event queue (`event_pending`): every stored event is queued however it was
stored, claims come oldest first and never twice at once, working an event takes it off, and
the migration carries over the events an older version had not worked yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, select, text
from sqlmodel import Session

from mailengine.store.customers import customer_table, ensure_customers
from mailengine.store.database import Database, _alembic_config
from mailengine.store.events import (
    claim_new_events,
    mark_events_processed,
    pending_table,
    record_event,
    store_events_once,
)
from tests.conftest import NOW
from tests.databases import (
    held_transaction,
    postgres_unavailable_reason,
    scratch_postgres_database,
)


def _queued(database: Database) -> list[int]:
    with database.session() as session:
        return list(
            session.execute(select(pending_table.c.event_id).order_by(pending_table.c.event_id))
            .scalars()
            .all()
        )


def _customer(database: Database, email: str = "ann@example.com") -> int:
    with database.transaction() as session:
        return ensure_customers(session, [email], NOW)[email]


def test_storing_an_event_queues_it_once(database: Database) -> None:
    ann = _customer(database)
    row = {"customer_id": ann, "type": "x", "data": {}, "occurred_at": NOW, "received_at": NOW}
    with database.transaction() as session:
        one, _ = record_event(session, ann, "signup", {}, NOW, NOW, "key-1")
        again, new = record_event(session, ann, "signup", {}, NOW, NOW, "key-1")
        many = store_events_once(
            session,
            [{**row, "idempotency_key": f"b{n}"} for n in range(3)]
            + [{**row, "idempotency_key": None}],
        )
    assert (again, new) == (one, False)  # a replay is not queued a second time
    assert _queued(database) == [one, *(event_id for event_id, _ in many)]


def test_claims_come_oldest_first_and_working_takes_them_off(database: Database) -> None:
    ann = _customer(database)
    with database.transaction() as session:
        ids = [record_event(session, ann, f"e{n}", {"n": n}, NOW, NOW)[0] for n in range(5)]
    with database.transaction() as session:
        first = claim_new_events(session, 3)
        assert [(event.id, event.type, event.data) for event in first] == [
            (ids[n], f"e{n}", {"n": n}) for n in range(3)
        ]
        mark_events_processed(session, [event.id for event in first])
    with database.transaction() as session:
        assert [event.id for event in claim_new_events(session, 10)] == ids[3:]
    assert _queued(database) == ids[3:]  # claimed but not worked: still queued


def test_a_claim_reads_the_data_of_wanted_types_only(database: Database) -> None:
    ann = _customer(database)
    with database.transaction() as session:
        for n, kind in enumerate(("signup", "page.viewed", "signup", "review")):
            record_event(session, ann, kind, {"n": n, "deep": {"list": [n]}}, NOW, NOW)
    with database.transaction() as session:
        some = claim_new_events(session, 10, frozenset({"signup", "review"}))
        none = claim_new_events(session, 10, frozenset())
        every = claim_new_events(session, 10)
    assert [(event.type, event.data) for event in some] == [
        ("signup", {"n": 0, "deep": {"list": [0]}}),
        ("page.viewed", {}),
        ("signup", {"n": 2, "deep": {"list": [2]}}),
        ("review", {"n": 3, "deep": {"list": [3]}}),
    ]
    assert [event.data for event in none] == [{}, {}, {}, {}]
    assert [event.data["n"] for event in every] == [0, 1, 2, 3]


def test_a_rolled_back_claim_leaves_the_events_queued(database: Database) -> None:
    ann = _customer(database)
    with database.transaction() as session:
        event_id, _ = record_event(session, ann, "signup", {}, NOW, NOW)

    def stopped_mid_way() -> None:
        with database.transaction() as session:
            mark_events_processed(session, [event.id for event in claim_new_events(session, 9)])
            raise RuntimeError("the engine stopped mid-way")

    with pytest.raises(RuntimeError):
        stopped_mid_way()
    assert _queued(database) == [event_id]


def test_erasing_a_customer_takes_their_events_off_the_queue(database: Database) -> None:
    ann, bob = _customer(database), _customer(database, "bob@example.com")
    with database.transaction() as session:
        record_event(session, ann, "signup", {}, NOW, NOW)
        bobs, _ = record_event(session, bob, "signup", {}, NOW, NOW)
        session.execute(delete(customer_table).where(customer_table.c.id == ann))
    assert _queued(database) == [bobs]


def test_two_engines_never_claim_the_same_event(database: Database) -> None:
    """PostgreSQL: a second engine skips the events another holds and takes the next ones."""
    if not database.is_postgresql:
        pytest.skip("SQLite has one writer at a time: claims cannot overlap")
    ann = _customer(database)
    with database.transaction() as session:
        ids = [record_event(session, ann, "e", {}, NOW, NOW)[0] for _ in range(6)]

    def claim(session: Session, limit: int) -> list[int]:
        return [event.id for event in claim_new_events(session, limit)]

    with (
        held_transaction(database, lambda session: claim(session, 4)) as first,
        database.transaction() as session,
    ):
        second = claim(session, 10)
    claimed = {"first": first, "second": second}
    assert claimed == {"first": ids[:4], "second": ids[4:]}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no schema yet, to migrate step by step."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield database
        database.dispose()
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:
        database = Database(url)
        yield database
        database.dispose()


def test_the_migration_queues_what_an_older_version_had_not_worked(
    empty_database: Database,
) -> None:
    database = empty_database
    database.upgrade("0014")  # the customer and event tables as that version had them
    ann = _customer(database)
    moment = NOW if database.is_postgresql else NOW.strftime("%Y-%m-%d %H:%M:%S")
    with database.engine.begin() as connection:  # as that version stored them
        for number, done in enumerate([moment, None, moment, None]):
            connection.execute(
                text(
                    "INSERT INTO event (customer_id, type, data, occurred_at, received_at,"
                    " processed_at) VALUES (:c, :type, '{}', :t, :t, :done)"
                ),
                {"c": ann, "type": f"e{number}", "t": moment, "done": done},
            )
    database.upgrade()
    assert _queued(database) == [2, 4]
    with database.transaction() as session:
        assert [event.type for event in claim_new_events(session, 10)] == ["e1", "e3"]
        newer, _ = record_event(session, ann, "e4", {}, NOW, NOW)
    assert _queued(database) == [2, 4, newer]
    with database.engine.begin() as connection:
        config = _alembic_config(database.url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
    with database.engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT type FROM event WHERE processed_at IS NULL ORDER BY id")
        ).scalars()
        assert list(waiting) == ["e1", "e3", "e4"]
