"""Customer upserts, consent history and stored types: one contract over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlmodel import col

from mailengine.addresses import address_hash
from mailengine.store.customers import (
    consent_history,
    count_customers,
    ensure_customers,
    get_customer,
    upsert_customers,
)
from mailengine.store.database import Database
from mailengine.store.models import Customer
from mailengine.store.records import ConsentStatement, CustomerUpsert
from tests.conftest import NOW


def _consent(status: str, at: datetime = NOW, source: str = "checkout") -> ConsentStatement:
    return ConsentStatement(
        status=status, source=source, recorded_at=at, ip="203.0.113.9", wording="Yes, mail me."
    )


def test_insert_then_update_counts_and_merges(database: Database) -> None:
    with database.transaction() as session:
        first = upsert_customers(
            session,
            [
                CustomerUpsert(
                    email="anna@example.com",
                    fields={"first_name": "Anna", "city": "Berlin"},
                    attributes={"shoe_size": "38", "shirt_size": "S"},
                )
            ],
            NOW,
        )
    assert (first.inserted, first.updated) == (1, 0)
    later = NOW + timedelta(hours=1)
    with database.transaction() as session:
        second = upsert_customers(
            session,
            [
                CustomerUpsert(
                    email="anna@example.com",
                    fields={"last_name": "Weber"},
                    attributes={"shoe_size": "39"},
                )
            ],
            later,
        )
    assert (second.inserted, second.updated) == (0, 1)
    with database.session() as session:
        anna = get_customer(session, "anna@example.com")
    assert anna is not None
    assert (anna.first_name, anna.last_name, anna.city) == ("Anna", "Weber", "Berlin")
    assert anna.attributes == {"shoe_size": "39", "shirt_size": "S"}
    assert anna.created_at == NOW
    assert anna.updated_at == later
    assert anna.email_hash == address_hash("anna@example.com")


def test_same_address_twice_in_one_batch_is_one_customer(database: Database) -> None:
    with database.transaction() as session:
        outcome = upsert_customers(
            session,
            [
                CustomerUpsert(email="ben@example.com", fields={"first_name": "Ben"}),
                CustomerUpsert(email="ben@example.com", fields={"city": "Köln"}),
            ],
            NOW,
        )
        assert (outcome.inserted, outcome.updated) == (1, 1)
        assert count_customers(session) == 1
    with database.session() as session:
        ben = get_customer(session, "ben@example.com")
    assert ben is not None
    assert (ben.first_name, ben.city) == ("Ben", "Köln")


def test_consent_history_records_each_change_with_proof(database: Database) -> None:
    email = "cleo@example.com"
    with database.transaction() as session:
        upsert_customers(session, [CustomerUpsert(email=email, consent=_consent("granted"))], NOW)
    with database.transaction() as session:
        # The same statement again is no change: no second record.
        upsert_customers(session, [CustomerUpsert(email=email, consent=_consent("granted"))], NOW)
    withdrawn_at = NOW + timedelta(days=3)
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email=email, consent=_consent("withdrawn", withdrawn_at, "api"))],
            withdrawn_at,
        )
    with database.session() as session:
        cleo = get_customer(session, email)
        assert cleo is not None and cleo.id is not None
        history = consent_history(session, cleo.id)
    assert cleo.consent_status == "withdrawn"
    assert cleo.consent_updated_at == withdrawn_at
    assert [(r.status, r.source, r.recorded_at) for r in history] == [
        ("granted", "checkout", NOW),
        ("withdrawn", "api", withdrawn_at),
    ]
    assert history[0].wording == "Yes, mail me."
    assert history[0].ip == "203.0.113.9"


def test_birthday_month_day_is_kept_for_yearly_triggers(database: Database) -> None:
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email="dora@example.com", fields={"birthday": date(1990, 2, 28)})],
            NOW,
        )
    with database.session() as session:
        dora = get_customer(session, "dora@example.com")
    assert dora is not None
    assert dora.birthday == date(1990, 2, 28)
    assert dora.birthday_md == 228


def test_datetimes_come_back_aware_in_utc(database: Database) -> None:
    berlin = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    with database.transaction() as session:
        upsert_customers(
            session,
            [CustomerUpsert(email="eve@example.com", fields={"created_at": berlin})],
            NOW,
        )
    with database.session() as session:
        eve = get_customer(session, "eve@example.com")
        created = session.execute(
            select(col(Customer.created_at)).where(
                col(Customer.created_at) < berlin + timedelta(seconds=1)
            )
        ).scalar_one()
    assert eve is not None
    assert eve.created_at == berlin
    assert eve.created_at.tzinfo == UTC
    assert created == berlin


def test_naive_datetimes_are_refused(database: Database) -> None:
    with (
        pytest.raises(StatementError, match="naive datetime"),
        database.transaction() as session,
    ):
        upsert_customers(
            session,
            [CustomerUpsert(email="fay@example.com", fields={"created_at": datetime(2026, 1, 1)})],
            NOW,
        )
    with database.session() as session:
        assert count_customers(session) == 0


def test_ensure_customers_creates_bare_customers_without_consent(database: Database) -> None:
    with database.transaction() as session:
        upsert_customers(session, [CustomerUpsert(email="gus@example.com")], NOW)
    with database.transaction() as session:
        ids = ensure_customers(session, ["gus@example.com", "hal@example.com"], NOW)
    assert set(ids) == {"gus@example.com", "hal@example.com"}
    with database.session() as session:
        hal = get_customer(session, "hal@example.com")
    assert hal is not None
    assert hal.consent_status == "unknown"
    assert ids["hal@example.com"] == hal.id


def test_unknown_profile_field_is_a_programming_error(database: Database) -> None:
    record = CustomerUpsert(email="ivy@example.com", fields={"email_hash": "x"})
    with (
        pytest.raises(ValueError, match="'email_hash' is not a customer profile field"),
        database.transaction() as session,
    ):
        upsert_customers(session, [record], NOW)
