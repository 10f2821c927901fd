"""Inbound mail end to end: a listener on 127.0.0.1:0, the pipeline, and the dispatcher sending
replies over real SMTP into a recording server."""

from __future__ import annotations

import email
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

import aiosmtplib
import pytest
from sqlalchemy import select

import mailengine.store.inbound_models
import mailengine.store.web_models  # noqa: F401
from mailengine.clock import FrozenClock
from mailengine.config import InboundSmtpSettings, Settings
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions, DispatchReport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.inbound_store import inbound_table
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert, PlannedSend
from mailengine.store.suppressions import suppression_reason
from tests.conftest import NOW
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server

REPO = Path(__file__).resolve().parents[2]
SECRET = b"a-test-secret-that-is-long-enough"
SMTP_LIMIT = 200_000
FAST = SmtpTimeouts(connect=3, mail=3, rcpt=3, data_init=3, data_block=3, data_end=3, command=3)


@pytest.fixture(scope="session")
def library() -> TemplateLibrary:
    return TemplateLibrary(REPO / "templates")


@pytest.fixture
def settings() -> Settings:
    base = Settings()
    smtp = InboundSmtpSettings(port=0, max_message_bytes=SMTP_LIMIT)
    return base.model_copy(update={"inbound": base.inbound.model_copy(update={"smtp": smtp})})


@pytest.fixture
def pipeline(database: Database, settings: Settings, clock: FrozenClock) -> InboundPipeline:
    return InboundPipeline(database, settings, SECRET, clock)


@pytest.fixture
async def listener(
    pipeline: InboundPipeline, settings: Settings
) -> AsyncIterator[InboundSmtpListener]:
    server = InboundSmtpListener(pipeline, settings.inbound.smtp, hostname="inbound.test")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def outgoing() -> AsyncIterator[SmtpServer]:
    """Where the dispatcher's replies go: a recording SMTP server."""
    server = await start_server(RecordingHandler())
    yield server
    await server.close()


@pytest.fixture
async def dispatcher(
    database: Database,
    outgoing: SmtpServer,
    settings: Settings,
    library: TemplateLibrary,
    clock: FrozenClock,
) -> AsyncIterator[Dispatcher]:
    transport = SmtpTransport(
        SmtpOptions(port=outgoing.port, connections=1, timeouts=FAST, local_hostname="engine.test")
    )
    composer = Composer(settings, library, SECRET)
    yield Dispatcher(database, transport, composer, clock, options=DispatchOptions(batch_size=50))
    await transport.aclose()


async def send_replies(dispatcher: Dispatcher) -> DispatchReport:
    """Run the dispatcher over everything planned so far, over real SMTP."""
    return await dispatcher.drain()


async def deliver(
    port: int,
    raw: bytes,
    *,
    mail_from: str = "anna@customer.example",
    to: Sequence[str] = ("support@shop.example",),
) -> str:
    """Send raw bytes over SMTP to the listener; returns the server's final reply.

    `mail_from=""` sends the null return path (`MAIL FROM:<>`), as bounces come.
    """
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5) as client:
        _, reply = await client.sendmail(mail_from, list(to), raw)
    return reply


def question(
    *,
    sender: str = "Anna Customer <anna@customer.example>",
    subject: str = "Where is my order?",
    message_id: str = "<question-1@customer.example>",
    body: str = "Hello, my order has not arrived yet. Can you help?\n",
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A plain message a person writes to support."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Support <support@shop.example>"
    message["Subject"] = subject
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0100"
    message["Message-ID"] = message_id
    for name, value in headers:
        message[name] = value
    message.set_content(body)
    return message.as_bytes(policy=default_policy.clone(linesep="\r\n"))


def add_customer_with_order(database: Database) -> int:
    """Anna, a customer with one paid order that is expected to ship on 26 November."""
    with database.transaction() as session:
        ids = upsert_customers(
            session,
            [
                CustomerUpsert(
                    email="anna@customer.example",
                    fields={"first_name": "Anna", "locale": "en_US", "timezone": "Europe/Berlin"},
                    consent=ConsentStatement("granted", "test", NOW),
                )
            ],
            NOW,
        ).customer_ids
        upsert_orders(
            session,
            [
                OrderUpsert(
                    external_id="SO-1042",
                    email="anna@customer.example",
                    channel="online",
                    amount_minor=5990,
                    currency="EUR",
                    base_amount_minor=5990,
                    placed_at=NOW - timedelta(days=2),
                    status="paid",
                    items=[
                        {"sku": "LS-1", "name": "Linen shirt", "quantity": 1, "unit_price": "59.90"}
                    ],
                    expected_ship_date=date(2026, 11, 26),
                )
            ],
            NOW,
        )
    return ids["anna@customer.example"]


def received(server: SmtpServer, recipient: str) -> list[EmailMessage]:
    """The messages the recording server got for `recipient`, parsed."""
    return [
        email.message_from_bytes(item.data, policy=default_policy)
        for item in server.handler.messages
        if recipient in item.rcpt_tos
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return cast(str, body.get_content())


def outbox_rows(database: Database, **where: Any) -> list[dict[str, Any]]:
    o = outbox_table.c
    statement = select(outbox_table).order_by(o.id)
    for name, value in where.items():
        statement = statement.where(o[name] == value)
    with database.session() as session:
        return [dict(row._mapping) for row in session.execute(statement)]


def inbound_rows(database: Database) -> list[dict[str, Any]]:
    i = inbound_table.c
    with database.session() as session:
        return [dict(row._mapping) for row in session.execute(select(inbound_table).order_by(i.id))]


def arf_report(to: str, complainer: str, original_id: str) -> bytes:
    """An ARF abuse report (RFC 5965) naming `complainer`."""
    lines = [
        "From: feedback@isp.example",
        f"To: {to}",
        "Subject: complaint about message",
        "Message-ID: <arf-1@isp.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "This is an email abuse report.",
        "--b",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: isp-fbl/1.0",
        "Version: 1",
        f"Original-Rcpt-To: {complainer}",
        "",
        "--b",
        "Content-Type: message/rfc822",
        "",
        "From: hello@shop.example",
        f"To: {complainer}",
        f"Message-ID: {original_id}",
        "Subject: Thank you",
        "",
        "body",
        "--b--",
        "",
    ]
    return "\r\n".join(lines).encode()


def suppression_of(database: Database, address: str) -> str | None:
    with database.session() as session:
        return suppression_reason(session, address)


BEN = "ben@customer.example"
BEN_MESSAGE_ID = "<confirmation.ben@shop.example>"


async def mail_ben(
    database: Database, dispatcher: Dispatcher, outgoing: SmtpServer, *others: str
) -> str:
    """Ben (and `others`) are customers; Ben gets one order confirmation, sent through
    `outgoing`. Returns its envelope sender: the signed VERP bounce address of that send."""
    with database.transaction() as session:
        ids = upsert_customers(
            session,
            [
                CustomerUpsert(email=email, consent=ConsentStatement("granted", "test", NOW))
                for email in (BEN, *others)
            ],
            NOW,
        ).customer_ids
        plan_sends(
            session,
            [
                PlannedSend(
                    idempotency_key="test:confirmation:ben",
                    workflow="thank-you",
                    step="1",
                    customer_id=ids[BEN],
                    recipient=BEN,
                    template="thank-you/order-confirmed",
                    subject="Thank you",
                    message_id=BEN_MESSAGE_ID,
                    kind="transactional",
                )
            ],
            NOW,
        )
    report = await dispatcher.drain()
    assert report.sent == 1
    return outgoing.handler.messages[-1].mail_from
