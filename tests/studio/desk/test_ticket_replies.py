"""Answering a ticket from the studio: the answer goes through the outbox and the real
dispatcher to an SMTP server, once however often the form is sent, threaded under the
customer's message, signed, from the support address; the customer's answer joins the
ticket again. Saved replies are checked when kept and filled in for the customer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import dkim
import httpx
import time_machine
from sqlalchemy import select

from mailengine.inbound.pipeline import InboundPipeline
from mailengine.outbound import Dispatcher, DkimSigner
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.tickets import get_ticket, open_ticket_hold
from tests.conftest import NOW
from tests.inbound_flow.conftest import add_customer_with_order
from tests.studio.conftest import SUPPORT
from tests.studio.desk.conftest import form_value, post_form, received, text_of, write_in
from tests.test_dkim import resolver
from tests.transport.conftest import SmtpServer

ANNA = "anna@customer.example"
ANSWER = "Hello Anna,\n\nyour order SO-1042 leaves our warehouse today.\n\nSam"


def _replies(database: Database) -> list[dict[str, object]]:
    o = outbox_table.c
    statement = select(outbox_table).where(o.step == "reply").order_by(o.id)
    with database.session() as session:
        return [dict(row._mapping) for row in session.execute(statement)]


async def _answer(
    client: httpx.AsyncClient, number: int, body: str, **fields: str
) -> list[httpx.Response]:
    """Open the ticket and send its composer twice at once, as a double click does."""
    page = await client.get(f"/studio/tickets/{number}")
    form = {
        "csrf_token": form_value(page.text, "csrf_token"),
        "request_key": form_value(page.text, "request_key"),
        "body": body,
        "quote": "on",
        **fields,
    }
    action = f"/studio/tickets/{number}/reply"
    return list(await asyncio.gather(*(client.post(action, data=form) for _ in range(2))))


async def test_an_answer_from_the_studio_reaches_the_customer_once_in_their_thread(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    dispatcher: Dispatcher,
    mailbox: SmtpServer,
    database: Database,
    signer: DkimSigner,
) -> None:
    add_customer_with_order(database)
    await write_in(desk_pipeline)
    assert (await dispatcher.drain()).sent == 2  # the acknowledgement, the team's copy
    frozen_time.shift(timedelta(minutes=20))

    sent_twice = await _answer(support_client, 1, ANSWER)
    locations = sorted(answer.headers["location"] for answer in sent_twice)
    assert locations == [
        "/studio/tickets/1?done=answered-before",
        "/studio/tickets/1?done=replied",
    ]
    assert len(_replies(database)) == 1
    assert (await dispatcher.drain()).sent == 1

    [acknowledgement, (envelope_from, raw, answer)] = received(mailbox, ANNA)
    assert acknowledgement[2]["Auto-Submitted"] == "auto-replied"
    assert answer["From"] == "Example Shop <support@shop.example>"
    assert answer["Reply-To"] == "support@shop.example"
    assert answer["To"] == "Anna <anna@customer.example>"
    assert answer["Subject"] == "[T-1] Re: Where is my order?"
    assert answer["In-Reply-To"] == "<question-1@customer.example>"
    assert answer["References"] == "<question-1@customer.example>"
    assert answer["List-Unsubscribe"] is None and answer["Auto-Submitted"] is None
    assert envelope_from.startswith("bounces+")  # a person's mail: bounces come back to us
    assert dkim.verify(raw, dnsfunc=resolver(signer))
    text = answer.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.startswith(ANSWER + "\n")
    assert "wrote:\n> Hello, my order has not arrived yet. Can you help?" in text

    with database.session() as session:
        ticket = get_ticket(session, 1)
    assert ticket is not None
    assert (ticket.state, ticket.awaiting_since) == ("pending", None)
    assert ticket.first_response_at == NOW + timedelta(minutes=20)
    page = text_of((await support_client.get("/studio/tickets/1")).text)
    assert f"{SUPPORT} answered sent" in page
    assert "your order SO-1042 leaves our warehouse today." in page

    frozen_time.shift(timedelta(hours=2))
    joined = await write_in(
        desk_pipeline,
        subject="Re: [T-1] Re: Where is my order?",
        message_id="<question-2@customer.example>",
        body="Thank you! Can it go to my office instead?\n",
        headers=[("In-Reply-To", answer["Message-ID"]), ("References", answer["Message-ID"])],
    )
    assert (joined.ticket_id, joined.acknowledged) == (1, False)
    with database.session() as session:
        again = get_ticket(session, 1)
    assert again is not None
    assert (again.state, again.awaiting_since) == ("open", NOW + timedelta(hours=2, minutes=20))
    inbox = text_of((await support_client.get("/studio/tickets")).text)
    assert "T-1" in inbox and "Where is my order?" in inbox
    report = text_of((await support_client.get("/studio/tickets/report")).text)
    assert "Median first answer 20 min" in report and "Answered within 1 hour 1 (100 %)" in report


async def test_an_answer_can_close_the_ticket_and_an_empty_one_is_refused(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    database: Database,
) -> None:
    customer_id = add_customer_with_order(database)
    await write_in(desk_pipeline)

    empty = await post_form(
        support_client, "/studio/tickets/1", "/studio/tickets/1/reply", {"body": " \n "}
    )
    assert empty.status_code == 422
    assert "Nothing was sent: the answer is empty" in text_of(empty.text)
    assert _replies(database) == []

    done = await _answer(support_client, 1, "All sorted, see you soon.", close="on")
    assert "/studio/tickets/1?done=replied-closed" in [r.headers["location"] for r in done]
    with database.session() as session:
        ticket = get_ticket(session, 1)
        assert ticket is not None and ticket.state == "closed"
        assert open_ticket_hold(session, customer_id, NOW) is None
    [reply] = _replies(database)
    assert reply["kind"] == "transactional" and reply["recipient"] == ANNA
    page = text_of((await support_client.get("/studio/tickets/1")).text)
    assert f"{SUPPORT} closed the ticket" in page


async def test_saved_replies_are_checked_when_kept_and_filled_in_for_the_customer(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    database: Database,
) -> None:
    add_customer_with_order(database)
    await write_in(desk_pipeline)
    snippets = "/studio/tickets/snippets"

    unguarded = await post_form(
        support_client, snippets, snippets, {"name": "Hi", "body": "Hi {{ customer.first_name }}"}
    )
    assert unguarded.status_code == 422
    said = text_of(unguarded.text)
    assert "The saved reply was not kept" in said
    assert "customer.first_name is missing for customers whose data has no first name" in said
    assert "Hi {{ customer.first_name }}" in said  # the text is kept in the form
    typo = await post_form(
        support_client, snippets, snippets, {"name": "x", "body": "{{ custmer }}"}
    )
    assert "unknown name 'custmer' (did you mean 'customer'?)" in text_of(typo.text)

    shipping = (
        "Hello {{ customer.first_name | default('there') }},\n"
        "{% if order %}your order {{ order.external_id }}"
        "{% if order.expected_ship_date %} ships on {{ order.expected_ship_date | date }}"
        "{% endif %}.{% endif %}"
    )
    kept = await post_form(
        support_client, snippets, snippets, {"name": "Shipping", "body": shipping}
    )
    assert kept.headers["location"] == f"{snippets}?done=saved"

    filled = await support_client.get("/studio/tickets/1/snippets/1")
    assert filled.json() == {"text": "Hello Anna,\nyour order SO-1042 ships on November 26, 2026."}
    without_script = await support_client.get("/studio/tickets/1?snippet=1")
    assert "your order SO-1042 ships on November 26, 2026.</textarea>" in without_script.text

    renamed = await post_form(
        support_client, snippets, f"{snippets}/1", {"name": "Shipping dates", "body": shipping}
    )
    assert renamed.headers["location"] == f"{snippets}?done=saved"
    listed = text_of((await support_client.get(snippets)).text)
    assert f"Shipping dates changed 2026-11-23 10:00 by {SUPPORT}" in listed
    removed = await post_form(support_client, snippets, f"{snippets}/1/delete", {})
    assert removed.headers["location"] == f"{snippets}?done=deleted"
    gone = await support_client.get("/studio/tickets/1/snippets/1")
    assert gone.status_code == 422
    assert "that saved reply no longer exists" in gone.json()["error"]
