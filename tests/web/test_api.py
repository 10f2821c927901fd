"""The shop's API over HTTP: auth, upserts, events for the engine, idempotency, clean refusals."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mailengine.store.api_queries import api_request_table, purge_answers
from mailengine.store.customers import consent_history, customer_table, get_customer
from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.web.api_keys import hash_api_key, is_known_key, new_api_key
from tests.conftest import NOW
from tests.web.conftest import AUTH

CUSTOMER = {
    "email": " Ada.Lovelace@Example.COM ",
    "first_name": "Ada",
    "locale": "de_DE",
    "timezone": "Europe/Berlin",
    "birthday": "1990-04-23",
    "city": "Berlin",
    "country": "de",
    "attributes": {"shirt_size": "M"},
    "consent": {"status": "granted", "source": "checkout", "ip": "198.51.100.4"},
}
ORDER = {
    "external_id": "SO-1001",
    "email": "ada.lovelace@example.com",
    "amount": "59.90",
    "placed_at": "2026-11-22T18:30:00+01:00",
    "items": [{"sku": "TS-1", "name": "Linen shirt", "quantity": 1, "unit_price": "59.90"}],
}


def count(database: Database, table: Any) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def events(database: Database) -> list[tuple[str, dict[str, Any], str | None]]:
    with database.session() as session:
        e = event_table.c
        rows = session.execute(select(e.type, e.data, e.idempotency_key).order_by(e.id))
        return [(kind, data, key) for kind, data, key in rows]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic " + "me_test-key-for-the-shop"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "wrong-scheme", "empty"],
)
async def test_the_api_needs_a_known_key(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for path, body in (("/v1/customers", CUSTOMER), ("/v1/orders", ORDER)):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert count(database, customer_table) == 0


async def test_no_configured_key_refuses_everyone(make_app: Any, database: Database) -> None:
    app = make_app(api_key_hashes=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/v1/customers", json=CUSTOMER, headers=AUTH)
    assert response.status_code == 401
    assert count(database, customer_table) == 0


def test_keys_are_kept_as_hashes_and_compared_whole() -> None:
    key = new_api_key()
    digest = hash_api_key(key)
    assert len(digest) == 64 and key not in digest
    assert is_known_key(digest, frozenset({digest.upper(), "0" * 64}))
    assert not is_known_key(hash_api_key(key + "x"), frozenset({digest}))


async def test_consent_given_through_the_api_without_a_source_says_so(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = {**CUSTOMER, "consent": {"status": "granted"}}
    response = await client.post("/v1/customers", json=body, headers=AUTH)
    assert response.status_code == 201
    with database.session() as session:
        history = consent_history(session, response.json()["customer_id"])
    assert [(record.status, record.source) for record in history] == [("granted", "api")]


async def test_a_new_customer_is_stored_with_consent_proof_and_an_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/v1/customers", json=CUSTOMER, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "customer_id": body["customer_id"],
        "created": True,
        "consent": "granted",
        "confirmation": "not-needed",
    }
    with database.session() as session:
        stored = get_customer(session, "ada.lovelace@example.com")
        assert stored is not None
        assert (stored.first_name, stored.city, stored.country) == ("Ada", "Berlin", "DE")
        assert stored.attributes == {"shirt_size": "M"}
        history = consent_history(session, body["customer_id"])
    assert [(r.status, r.source, r.ip) for r in history] == [
        ("granted", "checkout", "198.51.100.4")
    ]
    assert events(database) == [
        ("customer.created", {"source": "api"}, f"customer.created:{body['customer_id']}")
    ]

    again = await client.post("/v1/customers", json={**CUSTOMER, "city": "Hamburg"}, headers=AUTH)
    assert again.status_code == 200 and again.json()["created"] is False
    with database.session() as session:
        stored = get_customer(session, "ada.lovelace@example.com")
        assert stored is not None and stored.city == "Hamburg"
    assert len(events(database)) == 1  # an update is not a new customer


async def test_an_order_updates_the_figures_and_emits_order_placed_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/v1/orders", json=ORDER, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and body["external_id"] == "SO-1001"
    shipped = await client.post(
        "/v1/orders",
        json={**ORDER, "status": "shipped", "shipped_at": "2026-11-23T08:00:00Z"},
        headers=AUTH,
    )
    assert shipped.status_code == 200 and shipped.json()["event_id"] is None
    with database.session() as session:
        stored = get_customer(session, "ada.lovelace@example.com")
        assert stored is not None
        assert (stored.orders_count, stored.total_spent_minor) == (1, 5990)
        assert stored.consent_status == "unknown"  # an order is no yes to marketing
        status = session.execute(select(order_table.c.status)).scalar_one()
    assert status == "shipped"
    placed = [e for e in events(database) if e[0] == "order.placed"]
    assert placed == [
        (
            "order.placed",
            {
                "external_id": "SO-1001",
                "channel": "online",
                "status": "placed",
                "amount_minor": 5990,
                "currency": "EUR",
                "base_amount_minor": 5990,
            },
            "order.placed:SO-1001",
        )
    ]


async def test_custom_events_are_recorded_for_the_engine(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await client.post(
        "/v1/events",
        json={
            "type": "review.written",
            "email": "Bo@Example.com",
            "data": {"stars": 5},
            "id": "r1",
        },
        headers=AUTH,
    )
    assert first.status_code == 202
    assert first.json()["duplicate"] is False
    same_id = await client.post(
        "/v1/events",
        json={
            "type": "review.written",
            "email": "bo@example.com",
            "data": {"stars": 5},
            "id": "r1",
        },
        headers=AUTH,
    )
    assert same_id.status_code == 202
    assert same_id.json() == {**first.json(), "duplicate": True}
    without_id = await client.post(
        "/v1/events",
        json={"type": "newsletter.read", "email": "bo@example.com", "occurred_at": "2026-11-20"},
        headers=AUTH,
    )
    assert without_id.status_code == 202
    assert [(kind, data) for kind, data, _ in events(database)] == [
        ("review.written", {"stars": 5}),
        ("newsletter.read", {}),
    ]
    with database.session() as session:
        bo = get_customer(session, "bo@example.com")
    assert bo is not None and bo.consent_status == "unknown"  # a bare customer, no consent


async def test_the_store_s_own_event_types_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/v1/events", json={"type": "order.placed", "email": "a@example.com"}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]
    assert count(database, event_table) == 0


async def test_a_retry_with_the_same_idempotency_key_is_a_no_op(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {**AUTH, "Idempotency-Key": "3b8f0a5e-order-1001"}
    first = await client.post("/v1/orders", json=ORDER, headers=headers)
    retried = await client.post("/v1/orders", json=ORDER, headers=headers)
    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json()
    assert retried.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count(database, order_table) == 1
    assert len(events(database)) == 1

    other_body = await client.post("/v1/orders", json={**ORDER, "amount": "10.00"}, headers=headers)
    assert other_body.status_code == 409
    other_path = await client.post("/v1/customers", json=CUSTOMER, headers=headers)
    assert other_path.status_code == 409
    assert count(database, customer_table) == 1


async def test_concurrent_retries_with_one_key_write_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {**AUTH, "Idempotency-Key": "flaky-network-1001"}
    answers = await asyncio.gather(
        *(client.post("/v1/orders", json=ORDER, headers=headers) for _ in range(8))
    )
    assert {answer.status_code for answer in answers} == {201}
    assert all(answer.json() == answers[0].json() for answer in answers)
    assert sum("idempotent-replayed" not in answer.headers for answer in answers) == 1
    assert count(database, order_table) == 1
    assert len(events(database)) == 1


async def test_old_stored_answers_can_be_purged(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post("/v1/orders", json=ORDER, headers={**AUTH, "Idempotency-Key": "old"})
    with database.transaction() as session:
        assert purge_answers(session, NOW) == 0
        assert purge_answers(session, NOW + timedelta(hours=25)) == 1
    assert count(database, api_request_table) == 0


async def test_event_retries_by_key_store_one_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = {"type": "cart.abandoned", "email": "cy@example.com", "data": {"items": 2}}
    for _ in range(3):
        response = await client.post(
            "/v1/events", json=body, headers={**AUTH, "Idempotency-Key": "cart-77"}
        )
        assert response.status_code == 202
    assert count(database, event_table) == 1


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/v1/customers", {**CUSTOMER, "email": "not an address"}, ["body", "email"]),
        ("/v1/customers", {**CUSTOMER, "locale": "xx_QQ"}, ["body", "locale"]),
        ("/v1/customers", {**CUSTOMER, "timezone": "Mars/Olympus"}, ["body", "timezone"]),
        ("/v1/customers", {**CUSTOMER, "birthday": "1990-02-30"}, ["body", "birthday"]),
        ("/v1/customers", {**CUSTOMER, "country": "Germany"}, ["body", "country"]),
        ("/v1/customers", {**CUSTOMER, "favourite": "blue"}, ["body", "favourite"]),
        ("/v1/customers", {**CUSTOMER, "first_name": "A\x00da"}, ["body", "first_name"]),
        (
            "/v1/customers",
            {**CUSTOMER, "attributes": {"shoe size": 42}},
            ["body", "attributes", "shoe size"],
        ),
        (
            "/v1/customers",
            {**CUSTOMER, "consent": {"status": "granted", "ip": "999.1.1.1"}},
            ["body", "consent", "ip"],
        ),
        ("/v1/orders", {**ORDER, "amount": "59.999"}, ["body", "amount"]),
        ("/v1/orders", {**ORDER, "amount": -1}, ["body", "amount"]),
        ("/v1/orders", {**ORDER, "placed_at": "2031-01-01T00:00:00Z"}, ["body", "placed_at"]),
        ("/v1/orders", {**ORDER, "currency": "USD"}, ["body", "base_amount"]),
        ("/v1/orders", {**ORDER, "items": [{"quantity": 2}]}, ["body", "items", 0, "name"]),
        ("/v1/orders", {k: v for k, v in ORDER.items() if k != "email"}, ["body", "email"]),
        ("/v1/events", {"type": "Bad Type", "email": "a@example.com"}, ["body", "type"]),
        (
            "/v1/events",
            {"type": "x.y", "email": "a@example.com", "data": {"n": "\ud800"}},
            ["body", "data"],
        ),
    ],
)
async def test_a_bad_payload_is_a_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    path: str,
    body: dict[str, Any],
    location: list[Any],
) -> None:
    response = await client.post(
        path,
        content=json.dumps(body),  # ASCII JSON: "\ud800" travels as an escape
        headers={**AUTH, "Idempotency-Key": "k-" + path[4:], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert location in [item["loc"] for item in response.json()["detail"]]
    for table in (customer_table, order_table, event_table, outbox_table):
        assert count(database, table) == 0
    # the refusal was not stored: the corrected request goes through with the same key
    fixed = {"/v1/customers": CUSTOMER, "/v1/orders": ORDER}.get(path)
    if fixed is not None:
        retry = await client.post(
            path, json=fixed, headers={**AUTH, "Idempotency-Key": "k-" + path[4:]}
        )
        assert retry.status_code == 201


async def test_a_malformed_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/customers",
        content=b'{"email": ',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
