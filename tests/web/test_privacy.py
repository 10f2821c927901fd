"""`customer export` gives everything held; `customer forget` erases it and keeps the hash."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.tracking_links import rewrite_links
from mailengine.store.api_queries import (
    api_request_table,
    tracked_link_table,
    tracking_event_table,
)
from mailengine.store.coupons import CouponOffer, issue_for_send
from mailengine.store.customers import consent_history, customer_table
from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.store.link_lists import CarriedList, link_list_table, store_link_lists
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import save_preferences
from mailengine.store.suppressions import suppression_reason
from mailengine.web.api_keys import hash_api_key
from tests.conftest import NOW
from tests.web.cli_runner import run
from tests.web.conftest import AUTH, PUBLIC_URL, SECRET, plan_marketing, token

ADA = "ada@example.com"
BODY = '<html><body><a href="https://shop.example/c/shirts?size=M">Shirts</a></body></html>'


async def ada_with_history(client: httpx.AsyncClient, database: Database) -> int:
    """Ada signs up, orders, triggers an event, gets a mail with a coupon and clicks it."""
    signup = await client.post(
        "/v1/customers",
        json={
            "email": ADA,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "city": "Berlin",
            "birthday": "1990-04-23",
            "attributes": {"shirt_size": "M"},
            "consent": {"status": "granted", "ip": "198.51.100.4", "wording": "Yes please"},
        },
        headers={**AUTH, "Idempotency-Key": "signup-ada"},
    )
    customer_id = int(signup.json()["customer_id"])
    await client.post(
        "/v1/orders",
        json={
            "external_id": "SO-1",
            "email": ADA,
            "amount": "59.90",
            "placed_at": "2026-11-20T10:00:00Z",
            "items": [{"name": "Linen shirt", "size": "M", "unit_price": "59.90"}],
        },
        headers=AUTH,
    )
    await client.post(
        "/v1/events",
        json={"type": "review.written", "email": ADA, "data": {"text": "Lovely shirt"}},
        headers=AUTH,
    )
    outbox_id = plan_marketing(database, {ADA: customer_id})[ADA]
    with database.transaction() as session:
        offer = CouponOffer(10, None, None, NOW + timedelta(days=30))
        issue_for_send(session, outbox_id, customer_id, offer, NOW)
        tracked = rewrite_links(BODY, outbox_id, PUBLIC_URL, SECRET)
        assert tracked.links is not None
        carried = CarriedList(tracked.links.urls, {customer_id})
        store_link_lists(session, {tracked.links.digest: carried}, NOW)
        save_preferences(session, customer_id, {"win-back": False}, NOW)
    clicked = await client.get(f"/c/{tracked.keys[0]}")
    assert clicked.headers["location"] == "https://shop.example/c/shirts?size=M"
    return customer_id


async def test_export_holds_everything_about_the_customer(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FrozenClock
) -> None:
    await ada_with_history(client, database)
    result = run(settings, database, clock, ["customer", "export", " ADA@example.com "])
    assert result.exit_code == 0, result.output
    exported: dict[str, Any] = json.loads(result.output)
    assert exported["address"] == ADA
    assert exported["customer"]["first_name"] == "Ada"
    assert exported["customer"]["attributes"] == {"shirt_size": "M"}
    assert exported["customer"]["birthday"] == "1990-04-23"
    assert [(c["status"], c["ip"]) for c in exported["consent_history"]] == [
        ("granted", "198.51.100.4")
    ]
    assert exported["orders"][0]["items"][0]["name"] == "Linen shirt"
    assert [e["type"] for e in exported["events"]] == [
        "customer.created", "order.placed", "review.written",
    ]  # fmt: skip
    assert exported["sends"][0]["recipient"] == ADA
    assert exported["coupons"][0]["percent"] == 10
    assert exported["tracking"][0]["kind"] == "click"
    assert exported["tracking"][0]["url"] == "https://shop.example/c/shirts?size=M"
    assert exported["preferences"][0]["topic"] == "win-back"
    assert exported["suppression"] is None


async def test_forget_erases_personal_data_and_keeps_the_address_suppressed(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FrozenClock
) -> None:
    customer_id = await ada_with_history(client, database)
    refused = run(settings, database, clock, ["customer", "forget", ADA], stdin="n\n")
    assert refused.exit_code == 1  # aborted at the question: nothing erased
    result = run(settings, database, clock, ["customer", "forget", ADA, "--yes"])
    assert result.exit_code == 0, result.output
    assert "personal data erased" in result.output
    with database.session() as session:
        c = customer_table.c
        row = session.execute(select(customer_table).where(c.id == customer_id)).one()
        assert row.email == f"forgotten-{customer_id}@forgotten.invalid"
        assert row.email_hash != address_hash(ADA)
        assert (row.first_name, row.last_name, row.city, row.birthday) == (None,) * 4
        assert row.attributes == {} and row.forgotten_at == NOW
        assert row.orders_count == 1  # figures stay for reports
        assert suppression_reason(session, ADA) == "forgotten"
        history = consent_history(session, customer_id)
        assert [(h.status, h.ip, h.wording) for h in history] == [
            ("granted", None, None),
            ("withdrawn", None, "erasure request"),
        ]
        assert session.execute(select(order_table.c["items"])).scalar_one() == []
        event_data = list(session.execute(select(event_table.c.data)).scalars())
        assert event_data == [{}, {}, {}]
        o = outbox_table.c
        assert session.execute(select(o.recipient, o.state)).one() == (
            f"forgotten-{customer_id}@forgotten.invalid",
            "suppressed",
        )
        assert count(session, tracked_link_table) == 0
        assert count(session, link_list_table) == 0  # only Ada's mail had that list
        assert count(session, tracking_event_table) == 1  # anonymous now: kept for the report
        assert count(session, api_request_table) == 0
    again = run(settings, database, clock, ["customer", "export", ADA])
    assert again.exit_code == 1
    # an old unsubscribe link still works, and the address stays blocked
    response = await client.post(
        f"/u/{token('unsubscribe', ADA)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    with database.session() as session:
        assert suppression_reason(session, ADA) == "forgotten"


def count(session: Any, table: Any) -> int:
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_forgetting_an_unknown_address_still_blocks_it(
    database: Database, settings: Settings, clock: FrozenClock
) -> None:
    result = run(settings, database, clock, ["customer", "forget", "nobody@example.com", "--yes"])
    assert result.exit_code == 0 and "no customer had nobody@example.com" in result.output
    with database.session() as session:
        assert suppression_reason(session, "nobody@example.com") == "forgotten"


def test_commands_refuse_a_malformed_address(
    database: Database, settings: Settings, clock: FrozenClock
) -> None:
    result = run(settings, database, clock, ["customer", "export", "not-an-address"])
    assert result.exit_code == 2 and "not a valid e-mail address" in result.output


def test_api_key_command_prints_a_key_and_its_hash(
    sqlite_database: Database, settings: Settings, clock: FrozenClock
) -> None:
    result = run(settings, sqlite_database, clock, ["api-key"])
    key = result.output.split("key:")[1].split()[0]
    assert f"hash: {hash_api_key(key)}" in result.output
