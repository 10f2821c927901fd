"""The support desk's queries on SQLite and PostgreSQL: the inbox's order and filters, entries
recorded once per request key, the states an answer and a customer's message leave, saved
replies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailengine.store.database import Database
from mailengine.store.desk import (
    Author,
    add_entry,
    assign_ticket_to,
    clock_rows,
    inbox,
    inbox_counts,
    record_answer,
    reopen_ticket,
    ticket_entries,
)
from mailengine.store.snippets import (
    SnippetNameTaken,
    delete_snippet,
    get_snippet,
    list_snippets,
    save_snippet,
)
from mailengine.store.tickets import (
    close_ticket,
    get_ticket,
    open_ticket,
    open_ticket_hold,
    touch_ticket,
)
from mailengine.store.users import add_user
from tests.conftest import NOW
from tests.inbound_flow.conftest import add_customer_with_order


def _people(database: Database) -> tuple[Author, Author]:
    with database.transaction() as session:
        sam = add_user(session, "sam@shop.example", "support", "x", NOW)
        ada = add_user(session, "ada@shop.example", "admin", "x", NOW)
    return Author(sam.id, sam.email), Author(ada.id, ada.email)


def _id(author: Author) -> int:
    assert author.id is not None
    return author.id


def _open(database: Database, address: str, minutes: int, customer_id: int | None = None) -> int:
    with database.transaction() as session:
        row = open_ticket(
            session, customer_id, address, f"from {address}", NOW + timedelta(minutes=minutes)
        )
    return row.id


def test_the_inbox_lists_open_tickets_longest_waiting_first_and_filters_by_assignee(
    database: Database,
) -> None:
    sam, ada = _people(database)
    first = _open(database, "a@example.com", 0)
    second = _open(database, "b@example.com", 10)
    third = _open(database, "c@example.com", 20)
    later = NOW + timedelta(hours=1)
    with database.transaction() as session:
        # A new message on the first ticket does not move its clock: it waits since 0.
        touch_ticket(session, first, later)
        assert assign_ticket_to(session, second, sam, ada, later)
        assert not assign_ticket_to(session, second, sam, ada, later)  # already Sam's
        record_answer(session, third, later, close=False)
    with database.session() as session:
        open_rows = inbox(session, state="open", who="all", user_id=_id(sam))
        mine = inbox(session, state="all", who="mine", user_id=_id(sam))
        nobodys = inbox(session, state="open", who="unassigned", user_id=_id(sam))
        pending = inbox(session, state="pending", who="all", user_id=_id(sam))
        counts = inbox_counts(session, who="all", user_id=_id(sam))
    assert [row.ticket.id for row in open_rows] == [first, second]
    assert open_rows[0].ticket.awaiting_since == NOW
    assert [(row.ticket.id, row.assignee) for row in mine] == [(second, "sam@shop.example")]
    assert [row.ticket.id for row in nobodys] == [first]
    assert [row.ticket.id for row in pending] == [third]
    assert counts == {"open": 2, "pending": 1, "closed": 0, "all": 3}


def test_an_answer_stops_the_clock_and_a_customer_message_starts_it_again(
    database: Database,
) -> None:
    customer_id = add_customer_with_order(database)
    ticket = _open(database, "anna@customer.example", 0, customer_id)
    answered = NOW + timedelta(minutes=45)
    with database.transaction() as session:
        record_answer(session, ticket, answered, close=False)
        found = get_ticket(session, ticket)
        assert found is not None
        assert (found.state, found.awaiting_since) == ("pending", None)
        assert found.first_response_at == answered
        # Marketing still waits while the ticket is pending.
        assert open_ticket_hold(session, customer_id, answered) is not None

        again = answered + timedelta(hours=2)
        assert not touch_ticket(session, ticket, again)  # not reopened: it was not closed
        record_answer(session, ticket, again + timedelta(minutes=5), close=True)
        closed = get_ticket(session, ticket)
        assert closed is not None
        assert (closed.state, closed.awaiting_since) == ("closed", None)
        assert closed.first_response_at == answered  # the first answer is kept
        assert closed.closed_at == again + timedelta(minutes=5)
        assert open_ticket_hold(session, customer_id, again) is None


def test_customer_message_after_an_answer_makes_the_ticket_wait_for_us_again(
    database: Database,
) -> None:
    ticket = _open(database, "a@example.com", 0)
    with database.transaction() as session:
        record_answer(session, ticket, NOW + timedelta(minutes=5), close=False)
        touch_ticket(session, ticket, NOW + timedelta(hours=1))
        found = get_ticket(session, ticket)
    assert found is not None
    assert (found.state, found.awaiting_since) == ("open", NOW + timedelta(hours=1))


def test_closing_stops_the_clock_and_reopening_starts_it_from_then(database: Database) -> None:
    sam, _ = _people(database)
    ticket = _open(database, "a@example.com", 0)
    with database.transaction() as session:
        assert close_ticket(session, ticket, NOW + timedelta(hours=1))
        assert not close_ticket(session, ticket, NOW + timedelta(hours=2))
        closed = get_ticket(session, ticket)
        assert closed is not None and closed.awaiting_since is None
        assert reopen_ticket(session, ticket, sam, NOW + timedelta(hours=3))
        assert not reopen_ticket(session, ticket, sam, NOW + timedelta(hours=4))
        reopened = get_ticket(session, ticket)
        entries = ticket_entries(session, ticket)
    assert reopened is not None
    assert (reopened.state, reopened.closed_at) == ("open", None)
    assert reopened.awaiting_since == NOW + timedelta(hours=3)
    assert [(entry.kind, entry.author) for entry in entries] == [("reopen", "sam@shop.example")]


def test_an_entry_is_recorded_once_per_request_key(database: Database) -> None:
    sam, _ = _people(database)
    ticket = _open(database, "a@example.com", 0)
    with database.transaction() as session:
        first = add_entry(session, ticket, "note", sam, NOW, body="one", request_key="note:k1")
        again = add_entry(session, ticket, "note", sam, NOW, body="one", request_key="note:k1")
        other = add_entry(session, ticket, "note", sam, NOW, body="two", request_key="note:k2")
        keyless = add_entry(session, ticket, "note", sam, NOW, body="three")
    assert first is not None and other is not None and keyless is not None
    assert again is None
    with database.session() as session:
        bodies = [entry.body for entry in ticket_entries(session, ticket)]
    assert bodies == ["one", "two", "three"]


def test_clock_rows_hold_the_period_and_whatever_waits_now(database: Database) -> None:
    old = _open(database, "old@example.com", -60 * 24 * 40)  # 40 days ago, still waiting
    answered_old = _open(database, "done@example.com", -60 * 24 * 50)
    recent = _open(database, "new@example.com", 0)
    with database.transaction() as session:
        record_answer(session, answered_old, NOW, close=True)
    with database.session() as session:
        rows = clock_rows(session, NOW - timedelta(days=30))
    assert [row.id for row in rows] == [old, recent]


def test_saved_replies_are_added_changed_and_removed_by_name(database: Database) -> None:
    with database.transaction() as session:
        shipping = save_snippet(
            session, None, "Shipping", "Hi {{ customer.first_name }}", "sam", NOW
        )
        assert shipping is not None
        save_snippet(session, None, "Refund", "Your refund", "sam", NOW)
        with pytest.raises(SnippetNameTaken, match="'Refund' exists already"):
            save_snippet(session, shipping, "Refund", "x", "sam", NOW)
        later = NOW + timedelta(hours=1)
        assert save_snippet(session, shipping, "Shipping times", "Soon", "ada", later) == shipping
        assert save_snippet(session, 999, "Nothing", "x", "ada", later) is None
    with database.session() as session:
        assert [s.name for s in list_snippets(session)] == ["Refund", "Shipping times"]
        changed = get_snippet(session, shipping)
    assert changed is not None
    assert (changed.body, changed.updated_by, changed.updated_at) == (
        "Soon",
        "ada",
        NOW + timedelta(hours=1),
    )
    with database.transaction() as session:
        assert delete_snippet(session, shipping)
        assert not delete_snippet(session, shipping)
