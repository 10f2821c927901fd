"""/healthz and /metrics against a real database (and an unreachable one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import event, update

from mailengine.config import Settings
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, outbox_table, record_outcomes
from mailengine.store.records import SendOutcome
from mailengine.web.app import create_app
from tests.conftest import NOW
from tests.web.conftest import SECRET, AppFactory, add_customers, plan_marketing


async def get(app: object, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path)


async def test_healthy_when_the_database_answers_and_the_scheduler_runs(
    make_app: AppFactory,
) -> None:
    response = await get(make_app(scheduler_running=lambda: True), "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "scheduler": "running"}


async def test_a_stopped_scheduler_fails_the_health_check(make_app: AppFactory) -> None:
    response = await get(make_app(scheduler_running=lambda: False), "/healthz")
    assert response.status_code == 503
    assert response.json()["scheduler"] == "stopped"


async def test_an_unreachable_database_fails_the_health_check(settings: Settings) -> None:
    database = Database("postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings, database, secret=SECRET)
    response = await get(app, "/healthz")
    database.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable: OperationalError"


async def test_metrics_show_sends_by_state_queue_render_errors_and_inbound(
    make_app: AppFactory, database: Database
) -> None:
    people = [(f"c{n}@example.com", "granted") for n in range(5)]
    outbox_ids = plan_marketing(database, add_customers(database, people))
    ids = sorted(outbox_ids.values())
    with database.transaction() as session:
        o = outbox_table.c
        session.execute(update(outbox_table).where(o.id == ids[0]).values(state="sent"))
        session.execute(
            update(outbox_table)
            .where(o.id.in_(ids[1:3]))
            .values(state="failed", last_reply="render error: 'first_name' is undefined")
        )
        session.execute(
            update(outbox_table).where(o.id == ids[3]).values(state="failed", last_reply="550")
        )
        record_tracking_event(session, ids[0], "open", NOW)
    app = make_app(inbound_counts=lambda: {"bounce": 3, "autoreply": 1})
    response = await get(app, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("mailengine_outbox_messages", (("state", "queued"),))] == 1
    assert samples[("mailengine_outbox_messages", (("state", "failed"),))] == 3
    assert samples[("mailengine_outbox_messages", (("state", "sent"),))] == 1
    assert samples[("mailengine_outbox_queue_depth", ())] == 1
    assert samples[("mailengine_render_errors", ())] == 2
    assert samples[("mailengine_tracking_events_total", (("kind", "open"),))] == 1
    assert samples[("mailengine_inbound_messages_total", (("outcome", "bounce"),))] == 3


async def test_metrics_show_deferrals_by_cause_and_the_longest_waits(
    make_app: AppFactory, database: Database
) -> None:
    """Planned 40 min before the clock; two sends deferred 30 min before it, due again 10 min
    before it (450, a dropped connection); one claimed 5 min before it; one still queued."""
    people = [(f"c{n}@example.com", "granted") for n in range(4)]
    plan_marketing(database, add_customers(database, people), now=NOW - timedelta(minutes=40))
    with database.transaction() as session:
        claimed = claim_due(session, "w", NOW - timedelta(minutes=30), 2, timedelta(minutes=10))
        due = NOW - timedelta(minutes=10)
        outcomes = [
            SendOutcome(claimed[0].id, "deferred", 450, "4.2.1 mailbox busy", due),
            SendOutcome(claimed[1].id, "deferred", None, "connection dropped: lost", due),
        ]
        record_outcomes(session, "w", outcomes, NOW - timedelta(minutes=30))
        claim_due(session, "w", NOW - timedelta(minutes=5), 1, timedelta(minutes=10))
    response = await get(make_app(), "/metrics")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    def sample(name: str, label: str, value: str) -> float:
        return samples[(f"mailengine_outbox_{name}", ((label, value),))]

    assert sample("messages", "state", "deferred") == 2
    assert sample("deferred_messages", "reason", "mailbox busy (450)") == 1
    assert sample("deferred_messages", "reason", "connection dropped") == 1
    assert sample("deferred_messages", "reason", "timeout") == 0
    assert sample("failed_messages", "reason", "refused (550)") == 0
    assert sample("oldest_due_age_seconds", "state", "deferred") == 600
    assert sample("oldest_due_age_seconds", "state", "queued") == 2400
    assert sample("oldest_age_seconds", "state", "queued") == 2400
    assert sample("oldest_age_seconds", "state", "sending") == 300
    assert sample("oldest_age_seconds", "state", "deferred") == 2400
    assert samples[("mailengine_outbox_queue_depth", ())] == 4


async def test_metrics_can_require_a_bearer_token(settings: Settings, database: Database) -> None:
    guarded = settings.model_copy(
        update={"http": settings.http.model_copy(update={"metrics_token": SecretStr("s3cret")})}
    )
    app = create_app(guarded, database, secret=SECRET)
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic s3cret"}, 401),
        ({"Authorization": "Bearer s3cret"}, 200),
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.get("/metrics", headers=headers)
        assert response.status_code == status, headers
        assert ("mailengine_outbox_messages" in response.text) is (status == 200)


async def test_scrapes_read_the_database_once_per_cache_period(
    make_app: AppFactory, database: Database
) -> None:
    app = make_app()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert (await get(app, "/metrics")).status_code == 200
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    first_scrape = len(statements)
    assert 0 < first_scrape <= 5  # the figures of one scrape, read once for all twenty
