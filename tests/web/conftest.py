"""An app over a migrated database, an HTTP client talking to it, and data helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import mailengine.store.web_models  # noqa: F401  (the web tables, for empty_tables)
from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from mailengine.tokens import make_token
from mailengine.web.api_keys import hash_api_key
from mailengine.web.app import create_app
from mailengine.web.context import PreferenceTopic
from mailengine.web.server import serve
from tests.conftest import NOW

SECRET = b"a-web-test-secret-long-enough"
API_KEY = "me_test-key-for-the-shop"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PUBLIC_URL = "https://mail.shop.example"
TOPICS = (
    PreferenceTopic("welcome", "Welcome series", "Tips for new customers"),
    PreferenceTopic("win-back", "We miss you", "Offers when we have not seen you for a while"),
)

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings()
    return settings.model_copy(
        update={
            "http": settings.http.model_copy(update={"public_url": PUBLIC_URL}),
            "paths": settings.paths.model_copy(
                update={"templates": tmp_path / "templates", "var": tmp_path / "var"}
            ),
        }
    )


@pytest.fixture
def make_app(database: Database, settings: Settings, clock: FrozenClock) -> AppFactory:
    def make(**options: Any) -> FastAPI:
        values: dict[str, Any] = {
            "api_key_hashes": [hash_api_key(API_KEY)],
            "clock": clock,
            "secret": SECRET,
            "topics": TOPICS,
        }
        values.update(options)
        return create_app(settings, database, **values)

    return make


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


def token(purpose: str, email: str) -> str:
    return make_token(SECRET, purpose, address_hash(email), NOW)


def add_customers(
    database: Database, people: Sequence[tuple[str, str]], now: datetime = NOW
) -> dict[str, int]:
    """(email, consent status) -> customer ids."""
    records = [
        CustomerUpsert(
            email=email,
            fields={"first_name": email.split("@")[0].title()},
            consent=ConsentStatement(status=consent, source="test", recorded_at=now),
        )
        for email, consent in people
    ]
    with database.transaction() as session:
        return upsert_customers(session, records, now).customer_ids


def plan_marketing(
    database: Database,
    customer_ids: dict[str, int],
    workflow: str = "welcome",
    step: str = "1",
    now: datetime = NOW,
    **payload: object,
) -> dict[str, int]:
    """One queued marketing send per customer -> outbox ids by address."""
    sends = [
        PlannedSend(
            idempotency_key=f"{workflow}:{step}:{customer_id}:0",
            workflow=workflow,
            step=step,
            customer_id=customer_id,
            recipient=email,
            template="welcome/hello",
            subject="Hello {{ customer.first_name }}",
            message_id=f"<{workflow}.{step}.{customer_id}@shop.example>",
            payload=dict(payload),
        )
        for email, customer_id in customer_ids.items()
    ]
    with database.transaction() as session:
        plan_sends(session, sends, now)
        o = outbox_table.c
        rows = session.execute(
            outbox_table.select()
            .with_only_columns(o.recipient, o.id)
            .where(o.workflow == workflow, o.step == step)
        )
        return {recipient: outbox_id for recipient, outbox_id in rows}


@pytest.fixture
def served_app(sqlite_database: Database, settings: Settings, clock: FrozenClock) -> FastAPI:
    return create_app(settings, sqlite_database, clock=clock, secret=SECRET, topics=TOPICS)


@pytest.fixture
async def base_url(served_app: FastAPI) -> AsyncIterator[str]:
    async with serving(served_app) as url:
        yield url


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app served by real uvicorn on 127.0.0.1 (a free port), stopped afterwards."""
    stop = asyncio.Event()
    ports: list[int] = []
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, stop, on_started=ports.append))
    try:
        for _ in range(1000):
            if ports or task.done():
                break
            await asyncio.sleep(0.01)
        assert ports, "the server did not start"
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
