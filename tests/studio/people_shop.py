"""A customer with a life in the shop, written through the store as the engine and the API
write it: consent given and withdrawn, orders online and in store, events, enrollments, mail
sent, deferred and opened, a bounce, a ticket. For the Customers and Audiences tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from mailengine.store.api_queries import record_tracking_event
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.enrollments import NewEnrollment, enroll
from mailengine.store.events import record_event
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import claim_due, plan_sends, record_outcomes
from mailengine.store.records import (
    ConsentStatement,
    CustomerUpsert,
    OrderUpsert,
    PlannedSend,
    SendOutcome,
)
from mailengine.store.tickets import open_ticket
from mailengine.workflows.loader import load_workflows

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
WORKER = "test-dispatcher"
EMAIL = "anna.mueller@example.com"
# The subjects as the shipped workflows write them (Jinja, in English): the outbox keeps these.
WELCOME_SUBJECT = "Welcome to Example Shop, {{ customer.first_name | default('friend') }}"
THANKS_SUBJECT = "Thank you for your order, {{ customer.first_name | default('there') }}"


@dataclass(frozen=True)
class Lived:
    customer_id: int
    sent_id: int
    deferred_id: int


def add_lived_customer(database: Database, now: datetime, email: str = EMAIL) -> Lived:
    """Anna Müller of Berlin: two orders, two mails (one opened and clicked, one deferred),
    an active welcome enrollment due in three days, a finished win-back, an open ticket."""
    with database.transaction() as session:
        customer_id = upsert_customers(session, [_anna(email, now)], now).customer_ids[email]
        upsert_orders(session, _orders(email, now), now)
        record_event(session, customer_id, "customer.created", {}, now - timedelta(days=40), now)
        record_event(
            session,
            customer_id,
            "order.placed",
            {"order_id": "W00000042", "total": "74.80"},
            now - timedelta(days=2),
            now,
        )
        enroll(session, _enrollments(customer_id, now), now)
        open_ticket(session, customer_id, email, "Where is my parcel?", now - timedelta(hours=5))
    sent_id, deferred_id = _mail(database, customer_id, email, now)
    return Lived(customer_id, sent_id, deferred_id)


def _anna(email: str, now: datetime) -> CustomerUpsert:
    return CustomerUpsert(
        email=email,
        fields={
            "first_name": "Anna",
            "last_name": "Müller",
            "locale": "de_DE",
            "timezone": "Europe/Berlin",
            "zip": "10115",
            "city": "Berlin",
            "country": "DE",
            "created_at": now - timedelta(days=40),
        },
        attributes={"shirt_size": "M", "shoe_size": "39", "favourite_category": "denim"},
        consent=ConsentStatement(
            status="granted",
            source="checkout",
            recorded_at=now - timedelta(days=40),
            ip="203.0.113.9",
            wording="Yes, send me news and offers by e-mail.",
        ),
    )


def _orders(email: str, now: datetime) -> list[OrderUpsert]:
    return [
        OrderUpsert(
            external_id="W00000042",
            email=email,
            channel="online",
            amount_minor=7480,
            currency="EUR",
            base_amount_minor=7480,
            placed_at=now - timedelta(days=2),
            status="paid",
            items=[
                {
                    "sku": "TS-100",
                    "name": "Organic cotton T-shirt",
                    "quantity": 2,
                    "unit_price": "24.90",
                    "size": "M",
                },
                {
                    "sku": "SK-700",
                    "name": "Wool socks, 3 pairs",
                    "quantity": 1,
                    "unit_price": "19.90",
                    "size": "39",
                },
            ],
        ),
        OrderUpsert(
            external_id="S00000007",
            email=email,
            channel="store",
            store_location="Berlin Mitte",
            amount_minor=17900,
            currency="EUR",
            base_amount_minor=17900,
            placed_at=now - timedelta(days=30),
            status="delivered",
            items=[
                {
                    "sku": "JK-410",
                    "name": "Waxed cotton jacket",
                    "quantity": 1,
                    "unit_price": "179.00",
                    "size": "M",
                }
            ],
        ),
    ]


@cache
def shipped_version(name: str) -> str:
    """The version of a shipped workflow file, as the engine records it."""
    return load_workflows([WORKFLOWS]).workflows[name].version


def _enrollments(customer_id: int, now: datetime) -> list[NewEnrollment]:
    return [
        NewEnrollment(
            workflow="welcome",
            workflow_version=shipped_version("welcome"),
            customer_id=customer_id,
            occurrence="event:1",
            step_id="3",
            next_run_at=now + timedelta(days=3),
        ),
        NewEnrollment(
            workflow="thank-you",
            workflow_version=shipped_version("thank-you"),
            customer_id=customer_id,
            occurrence="event:2",
            step_id="3",
            next_run_at=now + timedelta(days=12, hours=1),
        ),
    ]


def _mail(database: Database, customer_id: int, email: str, now: datetime) -> tuple[int, int]:
    """Plan two messages, send one (then opened twice, clicked once), defer the other."""
    sends = [
        PlannedSend(
            idempotency_key=f"{workflow}:1:{customer_id}:0",
            workflow=workflow,
            step="1",
            customer_id=customer_id,
            recipient=email,
            template=template,
            subject=subject,
            message_id=f"<{workflow}.1.{customer_id}@shop.example>",
            kind=kind,
        )
        for workflow, template, subject, kind in (
            ("welcome", "welcome/hello", WELCOME_SUBJECT, "marketing"),
            ("thank-you", "thank-you/order-confirmed", THANKS_SUBJECT, "transactional"),
        )
    ]
    earlier = now - timedelta(days=2)
    with database.transaction() as session:
        plan_sends(session, sends, earlier)
        claimed = {
            c.workflow: c.id for c in claim_due(session, WORKER, earlier, 10, timedelta(minutes=5))
        }
        outcomes = [
            SendOutcome(claimed["welcome"], "sent", 250, "2.0.0 Ok: queued as 4XyZ"),
            SendOutcome(
                claimed["thank-you"], "deferred", 451, "4.7.1 Greylisted, try again later",
                now + timedelta(minutes=20),
            ),
        ]  # fmt: skip
        record_outcomes(session, WORKER, outcomes, earlier)
        for kind, hours in (("open", 1), ("open", 5), ("click", 5)):
            record_tracking_event(
                session, claimed["welcome"], kind, earlier + timedelta(hours=hours)
            )
    return claimed["welcome"], claimed["thank-you"]
