"""The support desk as people use it, end to end over real SMTP and in Chromium: customers
write to the inbound listener and get their acknowledgement; a support user answers one in
the studio (a saved reply inserted, the send button double-clicked); an admin answers the
same ticket by replying to its team notification; the customer's reply joins the ticket; the
customer's mailbox holds one thread, in order, each message signed. axe-core finds nothing
serious on the desk's pages; screenshots go to the test's tmp dir (and with
MAILENGINE_UPDATE_DOCS=1, the inbox's and the ticket's to docs/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
import time_machine

from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.inbound.listener import InboundSmtpListener
from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound import Dispatcher, DkimSigner
from mailengine.secret import secret_key
from mailengine.store.database import Database
from mailengine.store.snippets import save_snippet
from tests.conftest import NOW
from tests.inbound_flow.conftest import add_customer_with_order, deliver, question
from tests.inbound_flow.test_team_replies import answer_to
from tests.studio.conftest import (
    ADMIN,
    SUPPORT,
    add_user,
    check_accessibility,
    chromium_page,
    keep_for_docs,
    violations_report,
)
from tests.studio.desk.conftest import received
from tests.test_dkim import resolver
from tests.transport.conftest import SmtpServer

ANNA = "anna@customer.example"
SHIPPING = (
    "Hello {{ customer.first_name | default('there') }},\n\n"
    "{% if order %}your order {{ order.external_id }} is on its way"
    "{% if order.expected_ship_date %}: it leaves us on {{ order.expected_ship_date | date }}"
    "{% endif %}.{% endif %}"
)
OTHERS = (
    ("Bob Berg <bob@elsewhere.example>", "Do you ship to Norway?", 5 * 60),
    ("Carla Ruiz <carla@customer.example>", "Exchange for a bigger size", 50),
    ("Dev Patel <dev@customer.example>", "Invoice with our VAT number, please", 26 * 60),
)


@pytest.fixture
async def desk_listener(
    studio_settings: Settings, sqlite_database: Database
) -> AsyncIterator[InboundSmtpListener]:
    """The inbound listener `mailengine run` would start for the studio's shop (port 0)."""
    settings = studio_settings.model_copy(
        update={
            "inbound": studio_settings.inbound.model_copy(
                update={"smtp": studio_settings.inbound.smtp.model_copy(update={"port": 0})}
            )
        }
    )
    pipeline = InboundPipeline(sqlite_database, settings, secret_key(settings), SystemClock())
    listener = InboundSmtpListener(pipeline, settings.inbound.smtp, hostname="inbound.test")
    await listener.start()
    yield listener
    await listener.stop()


@pytest.fixture
def database(sqlite_database: Database) -> Database:
    """The browser's app serves `sqlite_database`: the dispatcher sends from it too."""
    return sqlite_database


@pytest.fixture
def desk_clock() -> Iterator[time_machine.Traveller]:
    """The test's clock: starting at NOW (MAILENGINE_TEST_NOW picks other weekdays and DST
    days) and running, as the browser and the servers need time to pass."""
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
async def support_page(
    desk_clock: time_machine.Traveller, studio_base_url: str, sqlite_database: Database
) -> AsyncIterator[Any]:
    """A Chromium page logged in as the support user `SUPPORT`, on the inbox."""
    add_user(sqlite_database, SUPPORT, "support")
    async with chromium_page(studio_base_url, SUPPORT, "/studio/tickets", 1360, 900) as page:
        yield page


async def _customers_write(listener: InboundSmtpListener, database: Database) -> None:
    """Anna (a customer with an order) 3 hours ago, and three more at other times."""
    add_customer_with_order(database)
    now = NOW
    with time_machine.travel(now - timedelta(hours=3), tick=True):
        await deliver(listener.port, question())
        await listener.pipeline.drain()
    for number, (sender, subject, minutes) in enumerate(OTHERS):
        address = sender.rsplit("<", 1)[1].strip(">")
        with time_machine.travel(now - timedelta(minutes=minutes), tick=True):
            raw = question(sender=sender, subject=subject, message_id=f"<o{number}@example.com>")
            await deliver(listener.port, raw, mail_from=address)
            await listener.pipeline.drain()


async def _screenshot(page: Any, tmp_path: Path, name: str) -> list[dict[str, Any]]:
    await page.screenshot(path=str(tmp_path / name), full_page=True)
    assert (tmp_path / name).stat().st_size > 20_000
    keep_for_docs(tmp_path / name)
    return await check_accessibility(page)


@pytest.mark.slow
async def test_a_ticket_answered_in_the_studio_and_by_mail_is_one_thread_for_the_customer(
    support_page: Any,
    studio_base_url: str,
    desk_listener: InboundSmtpListener,
    dispatcher: Dispatcher,
    mailbox: SmtpServer,
    sqlite_database: Database,
    signer: DkimSigner,
    tmp_path: Path,
) -> None:
    database, page = sqlite_database, support_page
    await _customers_write(desk_listener, database)
    assert (await dispatcher.drain()).sent == 8  # four acknowledgements, four notifications
    with database.transaction() as session:
        save_snippet(session, None, "Shipping update", SHIPPING, SUPPORT, NOW)

    await page.goto(f"{studio_base_url}/studio/tickets/4")
    await page.click("text=Take it")
    await page.locator("[role=status].alert").wait_for()
    await page.goto(f"{studio_base_url}/studio/tickets")
    refs = await page.locator("a.ticket-ref").all_inner_texts()
    assert refs == ["T-4", "T-2", "T-1", "T-3"]  # the longest-waiting first
    assert await page.locator("tbody tr").first.locator(".clock").inner_text() == "1 d 2 h"
    inbox_violations = await _screenshot(page, tmp_path, "studio-inbox.png")

    await page.click("text=Where is my order?")
    await page.wait_for_url(f"{studio_base_url}/studio/tickets/1")
    await page.select_option("#snippet", label="Shipping update")
    await page.click("#snippet-form button")
    status = page.locator("#snippet-status")
    await status.filter(has_text="Inserted").wait_for()
    written = await page.input_value("#reply-body")
    assert (
        written
        == "Hello Anna,\n\nyour order SO-1042 is on its way: it leaves us on November 26, 2026."
    )
    await page.focus("#reply-body")
    await page.keyboard.press("End")
    await page.keyboard.type("\n\nSam from the shop")
    await page.dblclick("#reply-form button[type=submit]")
    notice = await page.locator("[role=status].alert").inner_text()
    assert notice.startswith("Your answer is in the outbox")
    assert (await dispatcher.drain()).sent == 1

    notification = next(
        message for _, _, message in received(mailbox, "team@shop.example")
        if message["Subject"].startswith("[T-1]")
    )  # fmt: skip
    reply_to = notification["Reply-To"]
    await deliver(desk_listener.port, answer_to(notification, sender=ADMIN,
                  body="One more thing: the tracking number is 00340434161234567890."),
                  mail_from=ADMIN, to=[reply_to])  # fmt: skip
    [relayed] = await desk_listener.pipeline.drain()
    assert relayed.notes == (f"{ADMIN}'s answer relayed to the customer of T-1",)
    assert (await dispatcher.drain()).sent == 1

    thread = [message for _, _, message in received(mailbox, ANNA)]
    studio_answer = thread[1]
    follow_up = question(
        subject=f"Re: {studio_answer['Subject']}",
        message_id="<question-2@customer.example>",
        body="Thank you both, it arrived!\n",
        headers=[("In-Reply-To", studio_answer["Message-ID"])],
    )
    await deliver(desk_listener.port, follow_up)
    [joined] = await desk_listener.pipeline.drain()
    assert (joined.ticket_id, joined.acknowledged) == (1, False)

    await page.reload()
    assert await page.locator("[role=status].alert").count() == 0  # said once
    kinds = await page.locator(".thread > li").evaluate_all(
        "items => items.map(item => item.className.replace('thread-item thread-', ''))"
    )
    assert kinds == ["message", "acknowledgement", "reply", "reply", "message"]
    assert "answered by e-mail" in await page.locator(".thread-reply").nth(1).inner_text()
    ticket_violations = await _screenshot(page, tmp_path, "studio-ticket.png")

    _check_one_thread(thread, signer, [raw for _, raw, _ in received(mailbox, ANNA)])
    other_violations = []
    for path, name in (("report", "report"), ("snippets", "snippets")):
        await page.goto(f"{studio_base_url}/studio/tickets/{path}")
        await page.screenshot(path=str(tmp_path / f"studio-tickets-{name}.png"), full_page=True)
        other_violations += await check_accessibility(page)
    assert inbox_violations == [], violations_report(inbox_violations)
    assert ticket_violations == [], violations_report(ticket_violations)
    assert other_violations == [], violations_report(other_violations)


def _check_one_thread(thread: list[EmailMessage], signer: DkimSigner, raws: list[bytes]) -> None:
    """The acknowledgement, the studio's answer, the answer by e-mail: all [T-1], all under
    the customer's first message, in that order, each signed."""
    assert [message["Subject"] for message in thread] == ["[T-1] Re: Where is my order?"] * 3
    assert [message["From"].addresses[0].addr_spec for message in thread] == [
        "hello@shop.example",
        "support@shop.example",
        "support@shop.example",
    ]
    assert all(m["In-Reply-To"] == "<question-1@customer.example>" for m in thread)
    assert all("<question-1@customer.example>" in m["References"] for m in thread)
    assert "Sam from the shop" in thread[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "00340434161234567890" in thread[2].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(dkim.verify(raw, dnsfunc=resolver(signer)) for raw in raws)
