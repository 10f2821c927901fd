"""The shipped NPS mail sent for real: a customer with an order, the mail planned, composed
by the shipped templates and delivered over SMTP to a recording server on 127.0.0.1; and
the web app its links lead to."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from fastapi import FastAPI

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTransport
from mailengine.render import TemplateLibrary
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import CustomerUpsert, OrderUpsert, PlannedSend
from mailengine.web.app import create_app
from tests.transport.conftest import RecordingHandler, start_server

REPO = Path(__file__).resolve().parents[2]
SECRET = b"a-poll-test-secret-long-enough"
PUBLIC_URL = "https://mail.shop.example"
ADA = "ada@example.com"
ITEMS = [
    {"sku": "TS-100", "name": "Organic cotton T-shirt", "quantity": 1, "category": "shirts"},
    {"sku": "SN-600", "name": "Canvas sneakers", "quantity": 1, "category": "shoes"},
]


def poll_settings() -> Settings:
    settings = Settings()
    return settings.model_copy(
        update={
            "http": settings.http.model_copy(update={"public_url": PUBLIC_URL}),
            "paths": settings.paths.model_copy(
                update={
                    "templates": REPO / "templates",
                    "polls": REPO / "polls",
                    "questionnaires": REPO / "questionnaires",
                }
            ),
        }
    )


def poll_app(database: Database, clock: FrozenClock) -> FastAPI:
    return create_app(poll_settings(), database, clock=clock, secret=SECRET)


@dataclass(frozen=True)
class SentMail:
    outbox_id: int
    customer_id: int
    message: EmailMessage

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())

    def links(self) -> list[str]:
        """Every link of the HTML part, in order."""
        return [url.replace("&amp;", "&") for url in re.findall(r'href="([^"]+)"', self.html)]

    def poll_links(self) -> dict[str, str]:
        """The poll's answer links by answer."""
        return {
            url.split("/")[-3]: url for url in self.links() if url.startswith(f"{PUBLIC_URL}/poll/")
        }


async def send_nps_mail(database: Database, clock: FrozenClock) -> SentMail:
    """Ada's order W1 and the NPS mail about it, delivered over SMTP."""
    now = clock.now()
    with database.transaction() as session:
        ids = upsert_customers(
            session, [CustomerUpsert(email=ADA, fields={"first_name": "Ada"})], now
        ).customer_ids
        upsert_orders(
            session, [OrderUpsert("W1", ADA, "online", 8480, "EUR", 8480, now, items=ITEMS)], now
        )
        send = PlannedSend(
            "thank-you:4:W1", "thank-you", "5", ids[ADA], ADA, "thank-you/how-likely",
            "One question about your order", "<nps.w1@shop.example>", kind="transactional",
            payload={"trigger": {"external_id": "W1"}},
        )  # fmt: skip
        plan_sends(session, [send], now)
        outbox_id = session.execute(
            outbox_table.select().with_only_columns(outbox_table.c.id)
        ).scalar_one()
    handler = RecordingHandler()
    server = await start_server(handler)
    settings = poll_settings()
    transport = SmtpTransport(SmtpOptions(port=server.port, local_hostname="polls.test"))
    composer = Composer(settings, TemplateLibrary(REPO / "templates"), SECRET)
    dispatcher = Dispatcher(
        database, transport, composer, clock, options=DispatchOptions(batch_size=10)
    )
    try:
        await dispatcher.drain()
    finally:
        await transport.aclose()
        await server.close()
    (received,) = handler.messages
    assert received.rcpt_tos == [ADA]
    message = email.message_from_bytes(received.data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return SentMail(int(outbox_id), ids[ADA], message)
