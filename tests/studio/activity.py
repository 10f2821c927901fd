"""Three weeks of a shop's life on the demo data, for the pages that show what mail did.

`mailengine demo-data` gives customers and two years of orders but no mail. This runs the
real engine (registry, runner, dispatcher, a memory transport) over a frozen clock, day by
day: new customers sign up, schedules fire, due steps run, mail goes out; some recipients
open, click, unsubscribe, and some of those who clicked order (the order arrives as the API
sends it, so order confirmations go out too). Who does what is drawn from a seeded random
generator: the same seed gives the same three weeks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.dev import demo
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.runner import WorkflowRunner
from mailengine.outbound import Composer, Dispatcher
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.customers import customer_table, upsert_customers
from mailengine.store.database import Database
from mailengine.store.events import record_event
from mailengine.store.orders import placed_order_data, upsert_orders
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import unsubscribe
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert

TICK = timedelta(hours=2)
SECRET = b"studio-activity-secret-0123456789"


@dataclass(order=True)
class _Pending:
    at: datetime
    kind: str = field(compare=False)
    outbox_id: int = field(compare=False)
    customer_id: int = field(compare=False)
    email: str = field(compare=False)


@dataclass
class ShopActivity:
    """The engine and the shop's customers from `start`; `run_until` moves both on."""

    database: Database
    settings: Settings
    start: datetime
    seed: int = 1
    clock: FrozenClock = field(init=False)
    pending: list[_Pending] = field(default_factory=list)
    seen_outbox: int = 0
    orders: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        c = customer_table.c
        with self.database.session() as session:
            self.customers = list(session.execute(select(c.id, c.email).order_by(c.id)))
        self.clock = FrozenClock(self.start)
        folder = self.settings.paths.workflows
        self.registry = WorkflowRegistry(self.database, folder, folder.parent)
        library = TemplateLibrary(self.settings.paths.templates)
        loaded = self.registry.load(self.start, library)
        assert loaded.problems == [], loaded.problems
        self.runner = WorkflowRunner(self.database, self.registry, self.settings, secret=SECRET)
        composer = Composer(self.settings, library, SECRET)
        self.dispatcher = Dispatcher(self.database, MemoryTransport(), composer, self.clock)

    async def run_until(self, end: datetime) -> None:
        while self.clock.now() < end:
            self.clock.advance(TICK)
            now = self.clock.now()
            self._sign_ups(now)
            self._fire_schedules(now)
            self.runner.fire_yearly(now)
            self.runner.process_events(now)
            while self.runner.advance_due(now):
                pass
            await self.dispatcher.drain()
            self._react_to_new_mail(now)
            self._someone_orders(now)
            self._act(now)

    def _fire_schedules(self, now: datetime) -> None:
        """The shipped schedules: win-back daily at 09:00, vip on Mondays at 10:00."""
        local = now.astimezone(self.settings.zone)
        for name, at, weekdays in (("win-back", time(9), range(7)), ("vip", time(10), (0,))):
            fire = datetime.combine(local.date(), at, tzinfo=self.settings.zone)
            if local.weekday() in weekdays and now - TICK < fire <= now:
                self.runner.fire_schedule(name, fire, now)

    def _sign_ups(self, now: datetime) -> None:
        if self.rng.random() > 0.25:
            return
        number = self.rng.randrange(10**6)
        email = f"new{number}@example.net"
        customer = CustomerUpsert(
            email=email,
            fields={
                "first_name": self.rng.choice(["Lena", "Tom", "Mia", "Noah", "Ida"]),
                "locale": "en_GB",
                "timezone": "Europe/Berlin",
                "created_at": now,
            },
            consent=ConsentStatement("granted", "signup form", now),
        )
        with self.database.transaction() as session:
            ids = upsert_customers(session, [customer], now).customer_ids
            record_event(session, ids[email], "customer.created", {}, now, now)

    def _react_to_new_mail(self, now: datetime) -> None:
        o = outbox_table.c
        statement = select(o.id, o.customer_id, o.recipient, o.kind).where(
            o.id > self.seen_outbox, o.state == "sent"
        )
        with self.database.session() as session:
            sent = list(session.execute(statement.order_by(o.id)))
        for outbox_id, customer_id, email, kind in sent:
            self.seen_outbox = max(self.seen_outbox, outbox_id)
            self._react(_Pending(now, kind, outbox_id, customer_id, email))

    def _react(self, mail: _Pending) -> None:
        """A few bounce; about half open, some of them click, and some of those buy (after
        marketing mail) or unsubscribe."""
        marketing, plan = mail.kind == "marketing", self.pending.append
        later = timedelta(minutes=self.rng.randrange(10, 600))
        if self.rng.random() < 0.015:
            plan(_Pending(mail.at + later, "bounce", mail.outbox_id, mail.customer_id, mail.email))
            return
        if self.rng.random() > (0.5 if marketing else 0.7):
            return
        opened = mail.at + later
        plan(_Pending(opened, "open", mail.outbox_id, mail.customer_id, mail.email))
        roll = self.rng.random()
        if roll < 0.3:
            clicked = opened + timedelta(minutes=self.rng.randrange(1, 30))
            plan(_Pending(clicked, "click", mail.outbox_id, mail.customer_id, mail.email))
            if marketing and self.rng.random() < 0.45:
                ordered = clicked + timedelta(hours=self.rng.randrange(1, 60))
                plan(_Pending(ordered, "order", mail.outbox_id, mail.customer_id, mail.email))
        elif marketing and roll > 0.97:
            plan(_Pending(opened, "unsubscribe", mail.outbox_id, mail.customer_id, mail.email))

    def _someone_orders(self, now: datetime) -> None:
        """Customers order without being mailed too: the baseline a holdout measures."""
        if self.rng.random() < 0.45:
            customer_id, email = self.rng.choice(self.customers)
            self.pending.append(_Pending(now, "order", 0, customer_id, email))

    def _act(self, now: datetime) -> None:
        self.pending.sort()
        while self.pending and self.pending[0].at <= now:
            item = self.pending.pop(0)
            with self.database.transaction() as session:
                if item.kind == "order":
                    self._order(session, item)
                elif item.kind == "unsubscribe":
                    unsubscribe(session, address_hash(item.email), "one-click", None, item.at)
                else:
                    record_tracking_event(session, item.outbox_id, item.kind, item.at)

    def _order(self, session: Session, item: _Pending) -> None:
        self.orders += 1
        amount = self.rng.choice([2490, 3990, 5990, 7990, 12900])
        order = OrderUpsert(
            external_id=f"S-{self.orders:05d}",
            email=item.email,
            channel="online",
            amount_minor=amount,
            currency="EUR",
            base_amount_minor=amount,
            placed_at=item.at,
            status="paid",
            items=[
                {
                    "sku": "TS-1",
                    "name": "T-shirt",
                    "quantity": 1,
                    "unit_price": f"{amount / 100:.2f}",
                    "size": "M",
                }
            ],
        )
        upsert_orders(session, [order], item.at)
        record_event(
            session, item.customer_id, "order.placed", placed_order_data(order), item.at, item.at
        )


def load_demo_shop(database: Database, customers: int, seed: int, start: datetime) -> None:
    """`mailengine demo-data` as of `start`."""
    demo.load(database, customers=customers, seed=seed, now=start)


def with_holdout(folder: Path, workflow: str, percent: int) -> None:
    """Give a workflow file a control group (`holdout: N%`), as a marketer would."""
    path = folder / f"{workflow}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.rstrip("\n") + f"\nholdout: {percent}%\n", encoding="utf-8")
