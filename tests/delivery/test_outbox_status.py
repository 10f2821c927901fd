"""Faults seen end to end: a dispatcher sends to a misbehaving SMTP server; the transport's
warnings, `mailengine status` and `/metrics` then name the same causes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.store.database import Database
from mailengine.web.app import create_app
from tests.conftest import NOW
from tests.delivery.conftest import SECRET, add_customers, make_dispatcher, plan, states
from tests.transport.conftest import MisbehavingHandler, SmtpServer, start_server
from tests.web.cli_runner import run

FAST = SmtpTimeouts(connect=5, mail=5, rcpt=5, data_init=5, data_block=5, data_end=5, command=5)
PEOPLE = ["jane", "busy", "greylist", "unknown", "too-big", "drop", "stall"]


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = await start_server(MisbehavingHandler())
    yield server
    await server.close()


async def test_status_and_metrics_name_the_causes_the_warnings_name(
    database: Database,
    composer: Composer,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mailengine.transport")
    clock = FrozenClock(NOW)
    ids = add_customers(
        database, [(f"{local}@example.com", local.title(), "granted") for local in PEOPLE]
    )
    plan(database, ids)
    options = SmtpOptions(
        port=smtp_server.port,
        connections=2,
        timeouts=FAST,
        message_timeout=0.5,
        local_hostname="client.test",
    )
    transport = SmtpTransport(options)
    await make_dispatcher(database, transport, composer, clock).drain()
    await transport.aclose()
    assert states(database) == {
        "jane@example.com": "sent",
        "busy@example.com": "deferred",
        "greylist@example.com": "deferred",
        "unknown@example.com": "failed",
        "too-big@example.com": "failed",
        "drop@example.com": "deferred",
        "stall@example.com": "deferred",
    }
    logged = {record.getMessage().split(": ", 1)[0] for record in caplog.records}
    assert logged == {
        "mailbox busy (450)",
        "local error (451)",
        "refused (550)",
        "too big / storage (552)",
        "connection dropped",
        "timeout",
    }

    clock.set(NOW.replace(minute=30))  # half an hour later, nothing sent meanwhile
    result = run(Settings(), database, clock, ["status"])
    assert result.exit_code == 0, result.output
    shown = {
        line.strip("│ ").rsplit("│", 1)[0].strip(): line.rsplit("│", 2)[1].strip()
        for line in result.output.splitlines()
        if line.count("│") == 3
    }
    assert shown["outbox sent"] == "1"
    assert shown["outbox deferred"] == "4"
    assert shown["outbox failed"] == "2"
    for fault in logged:
        assert shown[fault] == "1", (fault, result.output)
    assert shown["oldest planned"] == "2026-11-23 10:00:00+01:00 (30 min ago)"
    assert shown["earliest retry due"].startswith("2026-11-23 10:0")  # minutes after 10:00

    app = create_app(Settings(), database, secret=SECRET, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        response = await client.get("/metrics")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    for fault in ("mailbox busy (450)", "local error (451)", "connection dropped", "timeout"):
        assert samples[("mailengine_outbox_deferred_messages", (("reason", fault),))] == 1
    for fault in ("refused (550)", "too big / storage (552)"):
        assert samples[("mailengine_outbox_failed_messages", (("reason", fault),))] == 1
    assert samples[("mailengine_outbox_deferred_messages", (("reason", "TLS failed"),))] == 0
    age = samples[("mailengine_outbox_oldest_age_seconds", (("state", "deferred"),))]
    assert age == 30 * 60
