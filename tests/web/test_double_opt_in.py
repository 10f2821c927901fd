"""Double opt-in: a signup's yes stays pending until the signed link's button is pressed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.store.customers import consent_history, get_customer
from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.store.outbox import outbox_table
from mailengine.store.suppressions import suppress, suppression_reason
from tests.conftest import NOW
from tests.web.conftest import AUTH, PUBLIC_URL, AppFactory, token

SIGNUP = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "consent": {
        "status": "granted",
        "source": "newsletter-form",
        "ip": "198.51.100.4",
        "wording": "Yes, send me news and offers",
    },
}


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app(double_opt_in=True)


def outbox(database: Database) -> list[dict[str, Any]]:
    with database.session() as session:
        o = outbox_table.c
        rows = session.execute(
            select(o.kind, o.workflow, o.step, o.template, o.recipient, o.state, o.message_id)
        )
        return [dict(row._mapping) for row in rows]


async def test_signup_stays_pending_and_plans_one_confirmation_mail(
    client: httpx.AsyncClient, database: Database, clock: FrozenClock
) -> None:
    response = await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    assert response.status_code == 201
    assert response.json()["consent"] == "pending"
    assert response.json()["confirmation"] == "planned"
    again = await client.post("/v1/customers", json=SIGNUP, headers=AUTH)  # a double submit
    assert again.json()["confirmation"] == "planned"
    planned = outbox(database)
    assert len(planned) == 1  # one confirmation mail per customer and day
    assert planned[0] | {"message_id": ""} == {
        "kind": "transactional",
        "workflow": "double-opt-in",
        "step": "confirm",
        "template": "double-opt-in/confirm",
        "recipient": "ada@example.com",
        "state": "queued",
        "message_id": "",
    }
    assert planned[0]["message_id"].endswith("@shop.example>")
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
        assert ada is not None and ada.consent_status == "pending"
        history = consent_history(session, ada.id or 0)
    assert [(r.status, r.source, r.ip, r.wording) for r in history] == [
        ("pending", "newsletter-form", "198.51.100.4", "Yes, send me news and offers")
    ]


async def test_following_the_link_grants_consent_with_proof(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    url = f"{PUBLIC_URL}/confirm/{token('confirm', 'ada@example.com')}"
    shown = await client.get(url)
    assert shown.status_code == 200
    assert "Yes, subscribe me" in shown.text and '<form method="post">' in shown.text
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
        assert ada is not None and ada.consent_status == "pending"  # a GET confirms nothing
    confirmed = await client.post(url)
    assert confirmed.status_code == 200
    assert "Thank you, you are subscribed" in confirmed.text
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
        assert ada is not None and ada.consent_status == "granted"
        last = consent_history(session, ada.id or 0)[-1]
        kinds = list(
            session.execute(select(event_table.c.type).order_by(event_table.c.id)).scalars()
        )
    assert (last.status, last.source, last.ip) == ("granted", "double-opt-in", "203.0.113.7")
    assert kinds == ["customer.created", "consent.granted"]
    again = await client.post(url)
    assert "You are subscribed" in again.text


async def test_a_forged_confirmation_grants_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    for bad in (token("unsubscribe", "ada@example.com"), token("confirm", "ada@example.com")[:-3]):
        response = await client.post(f"/confirm/{bad}")
        assert response.status_code == 400
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
    assert ada is not None and ada.consent_status == "pending"


async def test_an_old_confirmation_link_cannot_undo_an_unsubscribe(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    await client.post(
        f"/u/{token('unsubscribe', 'ada@example.com')}", data={"List-Unsubscribe": "One-Click"}
    )
    response = await client.post(f"/confirm/{token('confirm', 'ada@example.com')}")
    assert "Nothing to confirm" in response.text
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
        assert ada is not None and ada.consent_status == "withdrawn"
        assert suppression_reason(session, "ada@example.com") == "unsubscribe"


async def test_a_new_confirmed_signup_lifts_an_earlier_unsubscribe(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    await client.post(
        f"/u/{token('unsubscribe', 'ada@example.com')}", data={"List-Unsubscribe": "One-Click"}
    )
    signup = await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    assert signup.json() == {**signup.json(), "consent": "pending", "confirmation": "planned"}
    await client.post(f"/confirm/{token('confirm', 'ada@example.com')}")
    with database.session() as session:
        ada = get_customer(session, "ada@example.com")
        assert ada is not None and ada.consent_status == "granted"
        assert suppression_reason(session, "ada@example.com") is None


async def test_no_confirmation_mail_to_a_bounced_address(
    client: httpx.AsyncClient, database: Database
) -> None:
    with database.transaction() as session:
        suppress(session, "ada@example.com", "hard-bounce", NOW)
    response = await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    assert response.json()["confirmation"] == "suppressed"
    assert outbox(database) == []


async def test_without_double_opt_in_a_yes_is_granted_at_once(
    make_app: AppFactory, database: Database
) -> None:
    app = make_app(double_opt_in=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        response = await client.post("/v1/customers", json=SIGNUP, headers=AUTH)
    assert response.json()["consent"] == "granted"
    assert response.json()["confirmation"] == "not-needed"
    assert outbox(database) == []
