"""The support desk in the studio, through the real app with a logged-in support user: the
inbox by waiting time and its filters, a ticket beside its customer, assigning, notes,
closing and reopening, the waiting-time report."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import time_machine

from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.database import Database
from mailengine.store.tickets import close_ticket, get_ticket, open_ticket_hold
from tests.conftest import NOW
from tests.inbound_flow.conftest import add_customer_with_order
from tests.studio.conftest import SUPPORT
from tests.studio.desk.conftest import (
    form_value,
    inbox_lines,
    post_form,
    text_of,
    write_in,
)


async def test_the_inbox_lists_open_tickets_longest_waiting_first(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    marketer_client: httpx.AsyncClient,
) -> None:
    await write_in(desk_pipeline)
    frozen_time.shift(timedelta(hours=1))
    await write_in(
        desk_pipeline,
        sender="Bob <bob@elsewhere.example>",
        subject="Do you ship to Norway?",
        message_id="<bob-1@elsewhere.example>",
    )
    frozen_time.shift(timedelta(hours=4, minutes=5))

    page = await support_client.get("/studio/tickets")
    assert page.status_code == 200
    assert inbox_lines(page.text) == [("T-1", "5 h 05 min"), ("T-2", "4 h 05 min")]
    text = text_of(page.text)
    assert "Where is my order?" in text and "Do you ship to Norway?" in text
    assert 'aria-current="page">Tickets</a>' in page.text  # its place in the navigation
    assert "clock-due" in page.text  # waiting over 4 hours

    refused = await marketer_client.get("/studio/tickets", headers={"accept": "text/html"})
    assert refused.status_code == 403
    assert "This page is for: admin, support" in text_of(refused.text)


async def test_a_ticket_shows_the_customer_beside_the_conversation(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    database: Database,
) -> None:
    add_customer_with_order(database)
    await write_in(desk_pipeline, subject="Wrong size", message_id="<old@customer.example>")
    with database.transaction() as session:
        close_ticket(session, 1, NOW)
    frozen_time.shift(timedelta(days=1))
    await write_in(desk_pipeline, body="Where is SO-1042? It said it ships on the 26th.\n")

    page = await support_client.get("/studio/tickets/2")
    assert page.status_code == 200
    assert '<a href="/studio/customers/1">Anna</a>' in page.text  # the whole customer page
    customer_page = await support_client.get("/studio/customers/1")
    assert '<a href="/studio/tickets/2"><code>T-2</code></a>' in customer_page.text
    text = text_of(page.text)
    assert "Anna Customer <anna@customer.example> wrote" in text
    assert "Where is SO-1042? It said it ships on the 26th." in text
    assert "Sent the automatic acknowledgement" in text
    # The customer: profile, consent, the latest order with status and ship date, tickets.
    assert "Anna" in text and "Customer since 2026-11-23" in text
    assert "Marketing consent granted since 2026-11-23" in text
    assert "Marketing held back until the ticket is closed" in text
    expected = date(2026, 11, 26).isoformat()
    assert f"SO-1042 paid 59.90 EUR placed 2026-11-21 · expected to ship {expected}" in text
    assert "1 × Linen shirt" in text
    assert "T-1 Wrong size · closed · 2026-11-23" in text
    assert "Waiting for us 0 min" not in text and "Waiting for us under 1 min" in text

    missing = await support_client.get("/studio/tickets/99")
    assert missing.status_code == 404
    assert "There is no ticket T-99" in text_of(missing.text)


async def test_assign_note_close_and_reopen_from_the_ticket_page(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
    database: Database,
) -> None:
    customer_id = add_customer_with_order(database)
    await write_in(desk_pipeline)
    path = "/studio/tickets/1"

    taken = await post_form(support_client, path, f"{path}/assign", {"assignee": "me"})
    assert (taken.status_code, taken.headers["location"]) == (303, f"{path}?done=assigned")
    mine = await support_client.get("/studio/tickets?state=open&who=mine")
    assert inbox_lines(mine.text) == [("T-1", "under 1 min")]
    unassigned = await support_client.get("/studio/tickets?state=open&who=unassigned")
    assert inbox_lines(unassigned.text) == []

    page = await support_client.get(path)
    note = {"body": "Called the warehouse: it leaves today.", "request_key": "k"}
    note["request_key"] = form_value(page.text, "request_key")
    for _ in range(2):  # a double click sends the form twice
        added = await post_form(support_client, path, f"{path}/notes", note)
        assert added.headers["location"] == f"{path}?done=noted"
    empty = await post_form(support_client, path, f"{path}/notes", {"body": "  "})
    assert empty.status_code == 422
    assert "The note is empty" in text_of(empty.text)

    frozen_time.shift(timedelta(minutes=30))
    closed = await post_form(support_client, path, f"{path}/close", {})
    assert closed.headers["location"] == f"{path}?done=closed"
    with database.session() as session:
        assert open_ticket_hold(session, customer_id, NOW) is None
    closed_list = await support_client.get("/studio/tickets?state=closed")
    assert [reference for reference, _ in inbox_lines(closed_list.text)] == ["T-1"]

    frozen_time.shift(timedelta(minutes=30))
    reopened = await post_form(support_client, path, f"{path}/reopen", {})
    assert reopened.headers["location"] == f"{path}?done=reopened"
    after = await support_client.get(f"{path}?done=reopened")
    text = text_of(after.text)
    assert "The ticket is open again and waits for an answer." in text
    assert text.count("Called the warehouse: it leaves today.") == 1
    assert f"{SUPPORT} assigned the ticket to {SUPPORT}" in text
    assert f"{SUPPORT} closed the ticket" in text and f"{SUPPORT} reopened the ticket" in text
    with database.session() as session:
        ticket = get_ticket(session, 1)
        assert ticket is not None
        assert (ticket.state, ticket.awaiting_since) == ("open", NOW + timedelta(hours=1))
        assert open_ticket_hold(session, customer_id, NOW) is not None


async def test_changes_need_the_session_token_and_a_known_assignee(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
) -> None:
    await write_in(desk_pipeline)
    forged = await support_client.post(
        "/studio/tickets/1/close", data={"csrf_token": "not-it"}, headers={"accept": "text/html"}
    )
    assert forged.status_code == 403
    stranger = await post_form(
        support_client, "/studio/tickets/1", "/studio/tickets/1/assign", {"assignee": "999"}
    )
    assert stranger.status_code == 422
    assert "Tickets go to accounts with the support or admin role" in text_of(stranger.text)
    page = await support_client.get("/studio/tickets/1")
    assert "Open" in text_of(page.text) and "nobody" in page.text


async def test_the_waiting_report_counts_who_waits_now(
    frozen_time: time_machine.Traveller,
    desk_pipeline: InboundPipeline,
    support_client: httpx.AsyncClient,
) -> None:
    await write_in(desk_pipeline)
    frozen_time.shift(timedelta(hours=2))
    await write_in(desk_pipeline, sender="bob@elsewhere.example", message_id="<b@elsewhere>")
    frozen_time.shift(timedelta(hours=26))

    page = await support_client.get("/studio/tickets/report?days=7")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Tickets opened 2" in text and "Answered 0" in text
    assert "4–24 h 0 over 24 h 2" in text
    assert "Longest wait 1 d 4 h" in text
    assert "nobody 2 0 — 2" in text
