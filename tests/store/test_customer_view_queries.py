"""The single customer view and the customer search, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from mailengine.store.customer_directory import _starts, find_customers
from mailengine.store.customer_mail import customer_activity
from mailengine.store.customer_record import customer_record
from mailengine.store.customers import customer_table, upsert_customers
from mailengine.store.database import Database
from mailengine.store.query_budget import QueryTimeout, time_limit
from mailengine.store.records import CustomerUpsert
from mailengine.store.suppressions import suppress
from tests.conftest import NOW
from tests.studio.people_shop import EMAIL, add_lived_customer


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _people(database: Database, names: list[tuple[str, str, str]]) -> dict[str, int]:
    records = [
        CustomerUpsert(email=email, fields={"first_name": first, "last_name": last})
        for email, first, last in names
    ]
    with database.transaction() as session:
        return upsert_customers(session, records, NOW).customer_ids


def test_the_record_holds_profile_consent_orders_events_and_suppression(
    database: Database,
) -> None:
    lived = add_lived_customer(database, NOW)
    with database.transaction() as session:
        suppress(session, EMAIL, "unsubscribe", NOW, "link in the welcome mail")
    with database.session() as session:
        record = customer_record(session, lived.customer_id)
    assert record is not None
    profile = record.profile
    assert (profile.name, profile.city, profile.zip, profile.locale) == (
        "Anna Müller", "Berlin", "10115", "de_DE",
    )  # fmt: skip
    assert profile.attributes["shirt_size"] == "M"
    assert (profile.orders_count, profile.total_spent_minor) == (2, 7480 + 17900)
    assert [(c.status, c.source, c.ip) for c in record.consent] == [
        ("granted", "checkout", "203.0.113.9")
    ]
    assert [o.external_id for o in record.orders.items] == ["W00000042", "S00000007"]
    online, in_store = record.orders.items
    assert [(i.quantity, i.name, i.size) for i in online.items] == [
        (2, "Organic cotton T-shirt", "M"), (1, "Wool socks, 3 pairs", "39"),
    ]  # fmt: skip
    assert (in_store.channel, in_store.store_location, in_store.status) == (
        "store", "Berlin Mitte", "delivered",
    )  # fmt: skip
    assert [e.type for e in record.events.items] == ["order.placed", "customer.created"]
    assert record.events.total == 2
    assert record.suppression is not None and record.suppression.marketing_only
    assert record.suppression.detail == "link in the welcome mail"


def test_the_activity_holds_enrollments_mail_outcomes_and_tickets(database: Database) -> None:
    lived = add_lived_customer(database, NOW)
    with database.session() as session:
        activity = customer_activity(session, lived.customer_id)
    due = [(e.workflow, e.step_id, e.next_run_at) for e in activity.enrollments.items]
    assert due == [
        ("welcome", "3", NOW + timedelta(days=3)),
        ("thank-you", "3", NOW + timedelta(days=12, hours=1)),
    ]
    mails = {mail.workflow: mail for mail in activity.mails.items}
    sent, deferred = mails["welcome"], mails["thank-you"]
    assert (sent.state, sent.attempts, sent.last_code, sent.opened, sent.clicked) == (
        "sent", 1, 250, 2, 1,
    )  # fmt: skip
    assert (deferred.state, deferred.last_code, deferred.kind) == (
        "deferred", 451, "transactional",
    )  # fmt: skip
    assert deferred.last_reply == "4.7.1 Greylisted, try again later"
    assert [(t.reference, t.state, t.subject) for t in activity.tickets.items] == [
        ("T-1", "open", "Where is my parcel?")
    ]


def test_a_missing_customer_has_no_record(database: Database) -> None:
    with database.session() as session:
        assert customer_record(session, 12345) is None


def test_search_finds_by_address_and_name_prefix_in_any_case(database: Database) -> None:
    _people(
        database,
        [
            ("anna.mueller@example.com", "Anna", "Müller"),
            ("annabel@example.org", "Annabel", "Smith"),
            ("jan.de.jong@example.nl", "Jan", "de Jong"),
            ("ben@example.com", "Ben", "Annan"),
            ("zoe@example.com", "Zoë", "Müllner"),
        ],
    )
    with database.session() as session:

        def emails(text: str, mode: str = "start") -> list[str]:
            found = find_customers(session, text, mode)  # type: ignore[arg-type]
            return [item.email for item in found.customers]

        assert emails("ann") == [
            "anna.mueller@example.com", "annabel@example.org", "ben@example.com",
        ]  # fmt: skip
        assert emails("ANNA.M") == ["anna.mueller@example.com"]
        assert emails("müll") == ["anna.mueller@example.com", "zoe@example.com"]
        assert emails("de jong") == emails("De Jong") == ["jan.de.jong@example.nl"]
        assert emails("anna mü") == ["anna.mueller@example.com"]
        assert emails("ller") == []
        assert emails("ller", "contains") == ["anna.mueller@example.com"]
        assert emails("%") == [] and emails("_", "contains") == []
        assert emails("   ") == []


def test_search_pages_through_results_in_address_order(database: Database) -> None:
    people = [(f"kim{n:02d}@example.com", "Kim", f"Lee{n:02d}") for n in range(30)]
    _people(database, people)
    with database.session() as session:
        first = find_customers(session, "kim", page=1, page_size=25)
        second = find_customers(session, "kim", page=2, page_size=25)
    assert [item.email for item in first.customers] == [p[0] for p in people[:25]]
    assert first.has_next and not second.has_next
    assert [item.email for item in second.customers] == [p[0] for p in people[25:]]
    assert second.first_number == 26


def test_a_prefix_search_reads_the_indexes_on_sqlite(sqlite_database: Database) -> None:
    """With bound values, as the page runs it: no walk through the whole table or index."""
    c = customer_table.c
    statement = select(c.id).where(_starts("qqq")).order_by(c.email).limit(26)
    with sqlite_database.session() as session:
        compiled = statement.compile(dialect=session.get_bind().dialect)
        values = [compiled.params[name] for name in compiled.positiontup or ()]
        raw = session.connection().connection.driver_connection
        assert raw is not None
        plan = " | ".join(
            str(row[-1]) for row in raw.execute(f"EXPLAIN QUERY PLAN {compiled}", values)
        )
    assert "SCAN" not in plan, plan
    for index in ("sqlite_autoindex_customer_1", "ix_customer_first_name", "ix_customer_last_name"):
        assert f"INDEX {index} (" in plan, plan


def test_a_statement_past_its_time_limit_is_stopped(database: Database) -> None:
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) "
        "SELECT count(*) FROM n"
    )
    with (
        database.session() as session,
        pytest.raises(QueryTimeout, match=r"counting took longer than 0\.2 s"),
        time_limit(session, 0.2, "counting"),
    ):
        session.execute(text(slow)).scalar_one()
    with database.session() as session, time_limit(session, 5):
        assert session.execute(text("SELECT 1")).scalar_one() == 1
