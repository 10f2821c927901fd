"""An engine on a frozen clock: events, schedules, due steps and the outbox, one tick at a time."""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.runner import WorkflowRunner
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import customer_ids_by_email, upsert_customers
from mailengine.store.database import Database
from mailengine.store.events import record_event
from mailengine.store.orders import upsert_orders
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert

REPO = Path(__file__).resolve().parents[2]
LIBRARY = TemplateLibrary(REPO / "templates")


@dataclass
class Received:
    to: str
    subject: str
    template_hint: str
    at: datetime


@dataclass
class ShopData:
    """Customers, orders and events stored as the import and the API store them."""

    database: Database
    clock: FrozenClock

    def customer(
        self,
        email_address: str,
        first_name: str,
        consent: str = "granted",
        birthday: date | None = None,
        created_at: datetime | None = None,
        timezone: str = "Europe/Berlin",
    ) -> int:
        now = self.clock.now()
        fields: dict[str, object] = {
            "first_name": first_name,
            "locale": "en_GB",
            "timezone": timezone,
            "created_at": created_at or now,
        }
        if birthday is not None:
            fields["birthday"] = birthday
        with self.database.transaction() as session:
            outcome = upsert_customers(
                session,
                [
                    CustomerUpsert(
                        email=email_address,
                        fields=fields,
                        attributes={"shirt_size": "M"},
                        consent=ConsentStatement(consent, "test", now),
                    )
                ],
                now,
            )
        return outcome.customer_ids[email_address]

    def order(self, email_address: str, external_id: str, amount: int, placed_at: datetime) -> None:
        with self.database.transaction() as session:
            upsert_orders(
                session,
                [
                    OrderUpsert(
                        external_id=external_id,
                        email=email_address,
                        channel="online",
                        amount_minor=amount,
                        currency="EUR",
                        base_amount_minor=amount,
                        placed_at=placed_at,
                        status="paid",
                        items=[
                            {
                                "sku": "TS-1",
                                "name": "T-shirt",
                                "quantity": 1,
                                "unit_price": "24.90",
                                "size": "M",
                            }
                        ],
                    )
                ],
                self.clock.now(),
            )

    def event(self, email_address: str, event_type: str, **data: object) -> None:
        now = self.clock.now()
        with self.database.transaction() as session:
            customer_id = customer_ids_by_email(session, [email_address])[email_address]
            record_event(session, customer_id, event_type, dict(data), now, now)

    def buy(self, email_address: str, external_id: str, amount: int = 4990) -> None:
        """An order lands and its event is emitted, as the API does."""
        self.order(email_address, external_id, amount, self.clock.now())
        self.event(email_address, "order.placed", external_id=external_id)


@dataclass
class EngineHarness(ShopData):
    """The engine's parts over the shipped workflows and templates, ticked by hand."""

    settings: Settings = field(default_factory=Settings)
    transport: MemoryTransport = field(default_factory=MemoryTransport)
    received: list[Received] = field(default_factory=list)
    # The key of the links in the mails: the web app's, when a test follows them there.
    secret: bytes = b"engine-test-secret-0123456789"
    # The workflows it runs: the shipped ones, or a test's own folder (templates: shipped).
    workflows: Path = REPO / "workflows"

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        """(Re)build every in-memory part, as a restarted engine would."""
        self.registry = WorkflowRegistry(self.database, self.workflows, self.workflows.parent)
        result = self.registry.load(self.clock.now(), LIBRARY)
        assert result.problems == [], result.problems
        self.runner = WorkflowRunner(
            self.database, self.registry, self.settings, secret=self.secret
        )
        composer = Composer(self.settings, LIBRARY, self.secret)
        self.dispatcher = Dispatcher(self.database, self.transport, composer, self.clock)

    async def tick(self) -> None:
        now = self.clock.now()
        self.runner.process_events(now)
        while self.runner.advance_due(now):
            pass
        before = len(self.transport.outbox)
        await self.dispatcher.drain()
        for envelope in self.transport.outbox[before:]:
            message = email.message_from_bytes(envelope.data, policy=default_policy)
            self.received.append(
                Received(envelope.rcpt_to, str(message["Subject"]), "", self.clock.now())
            )

    async def run_for(self, duration: timedelta, step: timedelta = timedelta(hours=1)) -> None:
        end = self.clock.now() + duration
        while self.clock.now() < end:
            self.clock.advance(step)
            await self.tick()

    def subjects(self, to: str) -> list[str]:
        return [mail.subject for mail in self.received if mail.to == to]
