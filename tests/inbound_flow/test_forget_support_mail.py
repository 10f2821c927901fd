"""`customer forget` also erases what the customer wrote to support, and what the team wrote
on their tickets; `customer export` includes both."""

from __future__ import annotations

from sqlalchemy import select

from mailengine.inbound.pipeline import InboundPipeline
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.desk import Author, add_entry, ticket_entries
from mailengine.store.inbound_store import inbound_table, ticket_table
from mailengine.store.privacy import export_customer, forget_customer
from mailengine.store.records import CustomerUpsert
from tests.conftest import NOW

MESSAGE = (
    b"From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\n"
    b"Subject: My jeans are too long\r\nMessage-ID: <a1@customer.example>\r\n\r\n"
    b"Can I swap them for a shorter pair? My phone is 0170 1234567.\r\n"
)


async def test_forget_erases_support_mail_but_keeps_the_ticket_reference(
    database: Database, pipeline: InboundPipeline
) -> None:
    with database.transaction() as session:
        upsert_customers(session, [CustomerUpsert(email="anna@customer.example")], NOW)
    pipeline.store(
        MESSAGE,
        source="smtp",
        envelope_from="anna@customer.example",
        envelope_to=("support@shop.example",),
    )
    await pipeline.drain()
    with database.transaction() as session:
        sam = Author(None, "sam@shop.example")
        add_entry(session, 1, "note", sam, NOW, body="Anna's phone: 0170 1234567")
    with database.session() as session:
        exported = export_customer(session, "anna@customer.example")
    assert exported is not None
    assert [t["subject"] for t in exported["support_tickets"]] == ["My jeans are too long"]
    assert [e["body"] for e in exported["support_entries"]] == ["Anna's phone: 0170 1234567"]
    with database.transaction() as session:
        forget_customer(session, "anna@customer.example", NOW)
    with database.session() as session:
        raw, sender = session.execute(
            select(inbound_table.c.raw, inbound_table.c.from_address)
        ).one()
        ticket_id, address, subject = session.execute(
            select(ticket_table.c.id, ticket_table.c.address, ticket_table.c.subject)
        ).one()
    assert (bytes(raw), sender) == (b"", None)
    assert address.endswith("@forgotten.invalid")
    assert subject == ""
    assert ticket_id is not None  # the ticket (T-<id>) stays, anonymous
    with database.session() as session:
        [entry] = ticket_entries(session, ticket_id)
    assert (entry.kind, entry.author, entry.body) == ("note", "sam@shop.example", "")
