"""One broken workflow file stops only itself. The engine is served as `mailengine run` serves
it (`Engine.run`, a frozen clock for the shop, real SMTP to an aiosmtpd server on port 0, the
HTTP app on port 0); `mailengine status` runs through its entry point on the same config."""

from __future__ import annotations

import email
import json
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from mailengine.addresses import address_hash
from mailengine.cli.engine_commands import web_component
from mailengine.clock import FrozenClock
from mailengine.config import Settings, load_settings
from mailengine.engine.service import Engine
from mailengine.secret import secret_key
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.tokens import make_token
from mailengine.web.server import WebComponent
from tests.cli.conftest import Outcome, mailengine
from tests.engine.harness import REPO, ShopData
from tests.engine.running import eventually, serving
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server

# Monday 23 November 2026, 12:00 in Berlin (the first start), and a day later.
FIRST_START = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
NEXT_DAY = FIRST_START + timedelta(days=1)
CONFIRMATION = "Thank you for your order, Ann"
Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]
OLD_TEMPLATE_WORDS = "We have your order and are getting it ready."
NEW_TEMPLATE_WORDS = "Your parcel is on its way to the packing table."


@dataclass
class Shop:
    """A shop's folder (config.yaml, workflows/, templates/) over the test's database."""

    folder: Path
    database: Database
    smtp: SmtpServer

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    def settings(self) -> Settings:
        return load_settings(self.config)

    def write(self, relative: str, text: str) -> int:
        """Write a file of the shop; the line of its first `stpes:` (0 if none)."""
        (self.folder / relative).write_text(text, encoding="utf-8")
        lines = text.splitlines()
        return next((n for n, line in enumerate(lines, 1) if line.startswith("stpes:")), 0)

    def edit(self, relative: str, old: str, new: str) -> None:
        text = (self.folder / relative).read_text(encoding="utf-8")
        assert old in text, (relative, old)
        self.write(relative, text.replace(old, new))

    def engine(self, clock: FrozenClock) -> tuple[Engine, WebComponent]:
        """The engine `mailengine run` builds from the config, prepared, with its HTTP app."""
        engine = Engine(self.settings(), self.database, clock=clock)
        engine.prepare()
        web = web_component(engine)
        engine.components.append(web)
        return engine, web

    def status(self, clock: FrozenClock, *args: str) -> Outcome:
        return mailengine(["--config", str(self.config), "status", *args], clock)

    def mails_to(self, address: str) -> list[EmailMessage]:
        found = []
        for received in self.smtp.handler.messages:
            if address in received.rcpt_tos:
                message = email.message_from_bytes(received.data, policy=default_policy)
                assert isinstance(message, EmailMessage)
                found.append(message)
        return found


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = await start_server(RecordingHandler())
    yield server
    await server.close()


@pytest.fixture
def shop(tmp_path: Path, database: Database, smtp_server: SmtpServer) -> Shop:
    """Thank-you (order confirmations) and welcome, the shipped templates, mail to the SMTP
    server of the test."""
    folder = tmp_path / "shop"
    (folder / "workflows").mkdir(parents=True)
    for name in ("thank-you.yaml", "welcome.yaml"):
        shutil.copy(REPO / "workflows" / name, folder / "workflows" / name)
    shutil.copytree(REPO / "templates", folder / "templates")
    for asked in ("polls", "questionnaires"):
        shutil.copytree(REPO / asked, folder / asked)
    (folder / "config.yaml").write_text(
        f"database: {{url: '{database.url}'}}\n"
        f"paths: {{workflows: '{folder / 'workflows'}', templates: '{folder / 'templates'}', "
        f"var: '{folder / 'var'}'}}\n"
        f"smtp: {{host: 127.0.0.1, port: {smtp_server.port}, capture: false}}\n"
        "http: {host: 127.0.0.1, port: 0, metrics_cache_seconds: 0}\n"
        "engine: {tick_seconds: 0.1}\n"
        "timezone: Europe/Berlin\n",
        encoding="utf-8",
    )
    return Shop(folder, database, smtp_server)


def break_welcome(shop: Shop) -> str:
    """welcome.yaml with `steps` misspelt; how its problem starts (`path:line:col: message`)."""
    text = (REPO / "workflows" / "welcome.yaml").read_text(encoding="utf-8")
    line = shop.write("workflows/welcome.yaml", text.replace("\nsteps:", "\nstpes:"))
    return (
        f"workflows/welcome.yaml:{line}:1: unknown key 'stpes' in a workflow "
        "(did you mean 'steps'?)"
    )


async def served_once(shop: Shop, clock: FrozenClock) -> None:
    """Start the engine and stop it again, as a deploy that ran for a while."""
    engine, _ = shop.engine(clock)
    async with serving(engine):
        pass


async def ann_orders(
    shop: Shop, clock: FrozenClock, at: datetime, *, new_customer: bool = False
) -> tuple[Metrics, str]:
    """The engine starts `at`, Ann signs up (`new_customer`) and orders; once her order
    confirmation has arrived, the engine's /metrics and the preferences page it links to."""
    clock.set(at)
    data = ShopData(shop.database, clock)
    data.customer("ann@example.com", "Ann")
    with time_machine.travel(at, tick=True):
        engine, web = shop.engine(clock)
        async with serving(engine):
            if new_customer:
                data.event("ann@example.com", "customer.created")
            data.buy("ann@example.com", f"W{at:%d}")
            await eventually(lambda: bool(shop.mails_to("ann@example.com")), "the confirmation")
            return await metrics(web), await preferences_page(shop, web, at)


async def preferences_page(shop: Shop, web: WebComponent, now: datetime) -> str:
    """Ann's preferences page (as her mails link to it), from the engine's own HTTP server."""
    token = make_token(
        secret_key(shop.settings()), "preferences", address_hash("ann@example.com"), now
    )
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{web.port}/preferences/{token}")
    assert response.status_code == 200, response.text
    return response.text


async def metrics(web: WebComponent) -> Metrics:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{web.port}/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def planned_workflows(database: Database) -> list[str]:
    with database.session() as session:
        return sorted(session.execute(select(outbox_table.c.workflow)).scalars())


def errors(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    )


async def test_a_broken_file_beside_a_good_one_stops_only_itself(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine")
    problem = break_welcome(shop)
    clock = FrozenClock(FIRST_START)
    found, page = await ann_orders(shop, clock, FIRST_START, new_customer=True)
    assert "Welcome mails" not in page  # not running: nothing to choose
    assert [str(m["Subject"]) for m in shop.mails_to("ann@example.com")] == [CONFIRMATION]
    assert planned_workflows(shop.database) == ["thank-you"]  # no welcome: it never loaded
    logged = errors(caplog)
    assert problem in logged
    assert "workflow file workflows/welcome.yaml is broken" in logged
    assert "not running: no version of it ever loaded" in logged

    assert found[("mailengine_workflow_files_broken", ())] == 1
    assert found[("mailengine_workflow_files_not_running", ())] == 1
    labels = (("file", "workflows/welcome.yaml"), ("running", "nothing"), ("workflow", ""))
    assert found[("mailengine_workflow_file_broken", labels)] == 1

    shown = shop.status(clock)
    assert shown.code == 0, shown.err
    assert "Workflow files" in shown.out
    assert problem in shown.out
    assert "not running: no version of it ever loaded" in shown.out
    document = json.loads(shop.status(clock, "--format", "json").out)
    files = document["workflow_files"]
    assert (files["broken"], files["not_running"]) == (1, 1)
    reported = files["workflows/welcome.yaml"]
    assert any(reported_problem.startswith(problem) for reported_problem in reported["problems"])
    assert reported["running_version"] is None
    assert reported["found_at"] == "2026-11-23T12:00:00+01:00"
    as_csv = shop.status(clock, "--format", "csv").out.splitlines()
    assert as_csv[0] == "section,figure,value"
    assert "workflow_files,broken,1" in as_csv


async def test_a_file_broken_after_it_ran_runs_its_stored_version(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine")
    clock = FrozenClock(FIRST_START.replace(microsecond=250_000))
    with time_machine.travel(FIRST_START, tick=True):
        await served_once(shop, clock)  # thank-you loads and is stored as it is
    shop.edit(
        "workflows/thank-you.yaml",
        'subject: "Thank you for your order,',
        'subject: "Order received,',
    )
    shop.edit("workflows/thank-you.yaml", "reenter: always", "reenter: sometimes")
    found, page = await ann_orders(shop, clock, NEXT_DAY)
    assert [str(m["Subject"]) for m in shop.mails_to("ann@example.com")] == [CONFIRMATION]
    assert "<strong>Order confirmations</strong>" in page  # the stored version's, still sent
    logged = errors(caplog)
    assert "workflows/thank-you.yaml:10:1: reenter is never, always or 'after N days'" in logged
    assert "running the version stored at 2026-11-23 12:00:00+01:00" in logged

    assert found[("mailengine_workflow_files_broken", ())] == 1
    assert found[("mailengine_workflow_files_not_running", ())] == 0
    labels = (
        ("file", "workflows/thank-you.yaml"),
        ("running", "stored version"),
        ("workflow", "thank-you"),
    )
    assert found[("mailengine_workflow_file_broken", labels)] == 1
    shown = shop.status(clock)
    assert shown.code == 0, shown.err
    # stored at 12:00:00.25 the day before: shown to the second, in the shop's zone
    assert "the version stored at 2026-11-23 12:00:00+01:00 (23 h 59 min ago)" in shown.out
    assert "reenter is never, always or 'after N days'" in shown.out


async def test_a_broken_template_sends_the_template_stored_with_the_workflow(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mailengine.engine")
    clock = FrozenClock(FIRST_START)
    with time_machine.travel(FIRST_START, tick=True):
        await served_once(shop, clock)
    template = "templates/thank-you/order-confirmed.mjml"
    shipped = (REPO / template).read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(shipped, 1) if OLD_TEMPLATE_WORDS in text)
    marked = f'{{{{ _("{OLD_TEMPLATE_WORDS}'  # the sentence as the template marks it
    shop.edit(template, marked, NEW_TEMPLATE_WORDS + " {{ order. }} " + marked)
    # composed in a worker process of its own, as engine.compose_processes does it
    shop.edit("config.yaml", "engine: {tick_seconds: 0.1}", "engine: {tick_seconds: 0.1, "
              "compose_processes: 1}")  # fmt: skip
    await ann_orders(shop, clock, NEXT_DAY)
    (mail,) = shop.mails_to("ann@example.com")
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert OLD_TEMPLATE_WORDS in text
    assert NEW_TEMPLATE_WORDS not in text
    logged = errors(caplog)
    assert "workflow file workflows/thank-you.yaml is broken" in logged
    assert f"{template}:{line}: Jinja syntax error" in logged  # the template's own line
    assert "running the version stored at 2026-11-23 12:00:00+01:00" in logged


async def test_reload_refuses_a_broken_set_and_a_good_one_clears_the_report(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine.engine")
    break_welcome(shop)
    clock = FrozenClock(FIRST_START)
    with time_machine.travel(FIRST_START, tick=True):
        engine, _ = shop.engine(clock)
        async with serving(engine):
            assert sorted(engine.registry.current()) == ["thank-you"]
            running = engine.registry.current()["thank-you"].version
            shop.edit("workflows/thank-you.yaml", "reenter: always", "reenter: sometimes")
            refused = engine.reload()
            assert refused.problems != []
            assert any("workflows/thank-you.yaml:10:1" in p for p in refused.problems)
            assert engine.registry.current()["thank-you"].version == running  # kept
            assert "reload refused" in errors(caplog)
            assert "workflows/welcome.yaml" in shop.status(clock).out  # still the report

            shop.edit("workflows/thank-you.yaml", "reenter: sometimes", "reenter: always")
            shutil.copy(REPO / "workflows" / "welcome.yaml", shop.folder / "workflows")
            loaded = engine.reload()
            assert loaded.problems == []
            assert sorted(engine.registry.current()) == ["thank-you", "welcome"]
            document = json.loads(shop.status(clock, "--format", "json").out)
            assert document["workflow_files"] == {"broken": 0, "not_running": 0}
