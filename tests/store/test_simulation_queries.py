"""What simulate, preview and validate ask of the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.enrollments import NewEnrollment, enroll
from mailengine.store.events import record_event
from mailengine.store.orders import upsert_orders
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert
from mailengine.store.sample_customers import latest_event_data, varied_sample
from mailengine.store.simulation_queries import (
    customer_enrollments,
    customer_facts,
    is_eligible,
    on_yearly_day,
)
from mailengine.store.suppressions import suppress
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import YearlyTrigger
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = load_workflows([REPO / "workflows"]).workflows
CONTEXT = AudienceContext(now=NOW, zone=ZoneInfo("Europe/Berlin"))


def customers(database: Database) -> dict[str, int]:
    people = []
    for number in range(40):
        fields: dict[str, object] = {"locale": ("de_DE", "en_GB", "fr_FR")[number % 3]}
        if number % 2:
            fields["first_name"] = f"P{number}"
        if number % 5 == 0:
            fields["birthday"] = date(1992, 2, 29) if number == 0 else date(1985, 6, 1)
        attributes = {"shoe_size": 40 + number % 4} if number % 4 == 0 else {}
        consent = ConsentStatement("granted", "test", NOW - timedelta(days=number + 1))
        people.append(CustomerUpsert(f"p{number}@example.com", fields, attributes, consent))
    people.append(
        CustomerUpsert(
            "gone@example.com", {}, {}, ConsentStatement("withdrawn", "test", NOW - timedelta(3))
        )
    )
    with database.transaction() as session:
        ids = upsert_customers(session, people, NOW).customer_ids
        upsert_orders(
            session,
            [
                OrderUpsert(f"O-{n}", f"p{n}@example.com", "online", 1000, "EUR", 1000,
                            NOW - timedelta(days=100 + n), "paid")
                for n in range(0, 40, 3)
            ],
            NOW,
        )  # fmt: skip
        suppress(session, "p39@example.com", "hard-bounce", NOW)
        for data in ({"external_id": "O-3"}, {"external_id": "O-9"}):
            record_event(session, ids["p3@example.com"], "order.placed", data, NOW, NOW)
    return ids


def test_a_varied_sample_of_the_audience(database: Database) -> None:
    ids = customers(database)
    with database.session() as session:
        sample = varied_sample(session, WORKFLOWS["win-back"].audience, CONTEXT, 6)
        everyone = varied_sample(session, WORKFLOWS["welcome"].audience, CONTEXT, 100)
        events = latest_event_data(session, [ids["p3@example.com"]], "order.placed")
    buyers = {ids[f"p{n}@example.com"] for n in range(0, 40, 3)} - {ids["p39@example.com"]}
    assert len(sample) == 6 and set(sample) <= buyers
    assert ids["gone@example.com"] not in everyone and ids["p39@example.com"] not in everyone
    assert len(everyone) == 39
    assert events == {ids["p3@example.com"]: {"external_id": "O-9"}}


def test_facts_eligibility_yearly_days_and_enrollments(database: Database) -> None:
    ids = customers(database)
    birthday = WORKFLOWS["birthday"]
    assert isinstance(birthday.trigger, YearlyTrigger)
    with database.transaction() as session:
        enroll(
            session,
            [
                NewEnrollment("win-back", "v1", ids["p3@example.com"], occurrence, "1", NOW)
                for occurrence in ("schedule:b", "schedule:a")
            ],
            NOW,
        )
    with database.session() as session:
        gone = customer_facts(session, ids["gone@example.com"])
        bounced = customer_facts(session, ids["p39@example.com"])
        leap = ids["p0@example.com"]
        on_28th = on_yearly_day(
            session, birthday, birthday.trigger, date(2027, 2, 28), leap, CONTEXT
        )
        on_1st = on_yearly_day(session, birthday, birthday.trigger, date(2027, 3, 1), leap, CONTEXT)
        eligible = [
            is_eligible(session, WORKFLOWS[name], ids[address])
            for name, address in (("win-back", "p39@example.com"), ("win-back", "gone@example.com"),
                                  ("thank-you", "gone@example.com"))
        ]  # fmt: skip
        enrolled = customer_enrollments(session, ids["p3@example.com"])
    assert gone is not None and gone.consent_since == NOW - timedelta(days=3)
    assert bounced is not None and (bounced.suppression, bounced.suppressed_at) == (
        "hard-bounce",
        NOW,
    )
    assert (on_28th, on_1st) == (True, False)  # 29 February falls on the 28th in 2027
    assert eligible == [False, False, True]
    assert [row.occurrence for row in enrolled] == ["schedule:b", "schedule:a"]
