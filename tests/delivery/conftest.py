"""A composer over the shipped templates and a customer base for dispatcher tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions
from mailengine.outbound.transport.base import Transport
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]
SECRET = b"a-test-secret-that-is-long-enough"


@pytest.fixture(scope="session")
def library() -> TemplateLibrary:
    return TemplateLibrary(REPO / "templates")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def composer(settings: Settings, library: TemplateLibrary) -> Composer:
    return Composer(settings, library, SECRET)


def make_dispatcher(
    database: Database, transport: Transport, composer: Composer, clock: FrozenClock
) -> Dispatcher:
    return Dispatcher(database, transport, composer, clock, options=DispatchOptions(batch_size=50))


def add_customers(database: Database, people: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """(email, first name, consent status) -> ids."""
    records = [
        CustomerUpsert(
            email=email,
            fields={"first_name": first, "locale": "de_DE", "timezone": "Europe/Berlin"},
            attributes={"shirt_size": "M"},
            consent=ConsentStatement(status=consent, source="test", recorded_at=NOW),
        )
        for email, first, consent in people
    ]
    with database.transaction() as session:
        return upsert_customers(session, records, NOW).customer_ids


def plan(
    database: Database,
    customer_ids: dict[str, int],
    template: str = "welcome/hello",
    kind: str = "marketing",
    **payload: object,
) -> None:
    sends = [
        PlannedSend(
            idempotency_key=f"test:{template}:{customer_id}",
            workflow="test",
            step="1",
            customer_id=customer_id,
            recipient=email,
            template=template,
            subject="Hallo {{ customer.first_name | default('du') }}",
            message_id=f"<test.{template.replace('/', '.')}.{customer_id}@shop.example>",
            kind=kind,
            payload=dict(payload),
        )
        for email, customer_id in customer_ids.items()
    ]
    with database.transaction() as session:
        plan_sends(session, sends, NOW)


def states(database: Database) -> dict[str, str]:
    """recipient -> state."""
    with database.session() as session:
        rows = session.execute(
            outbox_table.select().with_only_columns(outbox_table.c.recipient, outbox_table.c.state)
        )
        return {recipient: state for recipient, state in rows}
