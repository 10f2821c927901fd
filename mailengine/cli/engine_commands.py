"""Commands that run the engine or look into it: run, event, reload, simulate, preview."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from functools import partial
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from mailengine.cli.context import CliContext, configure_logging, pass_context
from mailengine.cli.simulation_output import exit_line, print_simulation, trigger_line
from mailengine.cli.web_app import WebApp, build_web_app, worker_app
from mailengine.cli.workflow_commands import find_workflow, run_validate
from mailengine.config import Settings
from mailengine.dev.capture import CaptureServer
from mailengine.engine.facts import zone_of
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.service import Component, Engine, OnceReport
from mailengine.engine.simulation import simulate
from mailengine.engine.step_preview import StepPreviewer, choose_send_step
from mailengine.errors import MailengineError, quoted
from mailengine.inbound.service import InboundComponent
from mailengine.outbound import Composer
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.customers import get_customer
from mailengine.store.database import Database
from mailengine.store.events import record_event
from mailengine.store.models import Order
from mailengine.store.orders import order_of, placed_order_data
from mailengine.store.recipients import load_recipients
from mailengine.store.tickets import open_ticket_hold
from mailengine.store.write_turn import hand_over_often
from mailengine.web.server import WebComponent
from mailengine.web.workers import HttpWorkers
from mailengine.workflows.loader import load_workflows

PID_FILE = "mailengine.pid"
ORDER_PLACED = "order.placed"


class UnknownCustomerError(MailengineError, LookupError):
    """No customer has this address."""


class MissingOrderError(MailengineError, LookupError):
    """An order.placed event names no order of the customer."""


@click.command()
@click.option("--once", is_flag=True, help="Fire what is due now, drain the outbox and exit.")
@pass_context
def run(state: CliContext, once: bool) -> None:
    """Run the engine: schedules, events, workflows and delivery (Ctrl-C stops it)."""
    configure_logging()
    settings = state.settings
    database = state.ready_database()
    components: list[Component] = []
    if settings.smtp.capture:
        components.append(
            CaptureServer(
                settings.paths.var / "mail", host=settings.smtp.host, port=settings.smtp.port
            )
        )
    hold = open_ticket_hold if settings.engine.hold_marketing_during_open_ticket else None
    engine = Engine(settings, database, clock=state.clock, components=components, hold=hold)
    if not once:
        engine.components.append(
            InboundComponent(settings, database, secret_key(settings), engine.clock)
        )
    web: WebApp | None = None
    if settings.http.enabled and not once:
        engine.prepare()  # first: the preferences page names the workflows that run
        web = web_app(engine)
    if web is not None:  # built here also with workers: it checks the studio's address
        served = http_workers(engine) if settings.http.workers else web_component(engine, web)
        engine.components.append(served)
    if once:
        report = asyncio.run(_once(engine, components))
        click.echo(
            f"fired {', '.join(report.schedules_fired) or 'no schedules'}; "
            f"{report.enrolled} enrolled, {report.events} events, "
            f"{report.steps_advanced} steps advanced; sent {report.dispatched.sent}, "
            f"deferred {report.dispatched.deferred}, failed {report.dispatched.failed}, "
            f"suppressed {report.dispatched.suppressed}"
        )
        return
    pid_file = settings.paths.var / PID_FILE
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()), encoding="ascii")
    if settings.smtp.capture:
        click.echo(f"captured mail goes to {settings.paths.var / 'mail' / 'new'}")
    if web is not None:
        click.echo(
            f"HTTP API, unsubscribe pages and tracking on http://{settings.http.host}:"
            f"{settings.http.port} (OpenAPI document at /docs)"
        )
        click.echo(web.studio_line())
    if settings.inbound.smtp.enabled:
        click.echo(
            f"support mail to {settings.inbound.support_address} is received on "
            f"{settings.inbound.smtp.host}:{settings.inbound.smtp.port}"
        )
    click.echo(f"workflows: {settings.paths.workflows}; stop with Ctrl-C, reload with SIGHUP")
    hand_over_often()  # composing threads beside the writing ones
    try:
        asyncio.run(_serve(engine))
    finally:
        pid_file.unlink(missing_ok=True)


def web_app(engine: Engine) -> WebApp:
    """The HTTP app as `mailengine run` serves it, the studio mounted when it is on. After
    `engine.prepare()`: the preferences and unsubscribe pages name the workflows that run (a
    broken file's stored version too)."""
    return build_web_app(
        engine.settings,
        engine.database,
        engine.clock,
        workflows=engine.registry.current().values(),
        scheduler_running=lambda: engine.scheduler_running,
        on_stored=engine.nudge,
    )


def web_component(engine: Engine, web: WebApp | None = None) -> WebComponent:
    """`web` (else `web_app(engine)`) as a part of the engine, started and stopped with it."""
    http = engine.settings.http
    served = web_app(engine) if web is None else web
    return WebComponent(served.app, http.host, http.port, http.trusted_proxies)


def http_workers(engine: Engine) -> HttpWorkers:
    """The app as `web_app(engine)` builds it, served from `http.workers` processes of its own
    beside the engine (after `engine.prepare()`: they name the workflows that run)."""
    return HttpWorkers(
        engine.settings,
        engine.clock,
        partial(worker_app, list(engine.registry.current().values())),
        scheduler_running=lambda: engine.scheduler_running,
        on_stored=engine.nudge,
    )


async def _once(engine: Engine, components: list[Component]) -> OnceReport:
    for component in components:
        await component.start()
    try:
        return await engine.run_once()
    finally:
        for component in reversed(components):
            await component.stop()


async def _serve(engine: Engine) -> None:
    await engine.run(asyncio.Event())


@click.command()
@click.argument("event_type")
@click.option("--customer", "email", required=True, help="The customer's e-mail address.")
@click.option("--data", "data_text", default="{}", help="Event data as a JSON object.")
@click.option("--key", help="Idempotency key: the same key twice records one event.")
@pass_context
def event(state: CliContext, event_type: str, email: str, data_text: str, key: str | None) -> None:
    """Record an event for a customer; the engine reacts to it.

    order.placed names a stored order of the customer (--data '{"external_id": "W1001"}'):
    orders themselves come in through `import orders` or POST /v1/orders."""
    try:
        data = json.loads(data_text)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error.msg}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    database = state.ready_database()
    now = state.clock.now()
    occurred_at = now
    with database.transaction() as session:
        customer = get_customer(session, email.strip().lower())
        if customer is None or customer.id is None:
            raise UnknownCustomerError(f"no customer has the address {email}")
        if event_type == ORDER_PLACED:
            order = _named_order(session, customer.id, customer.email, data)
            data = {**data, **placed_order_data(order)}
            occurred_at = order.placed_at
            key = key or f"{ORDER_PLACED}:{order.external_id}"  # as POST /v1/orders records it
        event_id, new = record_event(session, customer.id, event_type, data, occurred_at, now, key)
    click.echo(f"event {event_id} {'recorded' if new else 'was recorded before'}: {event_type}")


def _named_order(session: Session, customer_id: int, email: str, data: dict[str, Any]) -> Order:
    """The stored order an order.placed event names; refused without one, so that no order
    confirmation goes out for an order mailengine does not have."""
    how = (
        "orders come in through `mailengine import orders FILE` or POST /v1/orders (which "
        "records order.placed itself)"
    )
    named = data.get("external_id", data.get("order"))
    if not isinstance(named, str) or not named.strip():
        raise MissingOrderError(
            f"order.placed needs the order it announces: {how}; to announce an order already "
            'stored, name it: --data \'{"external_id": "W1001"}\''
        )
    order = order_of(session, customer_id, named.strip())
    if order is None:
        raise MissingOrderError(f"{email} has no order {quoted(named.strip())}: {how}")
    return order


@click.command()
@pass_context
def reload(state: CliContext) -> None:
    """Check the workflow files, then tell the running engine to pick them up (SIGHUP)."""
    settings = state.settings
    if run_validate(settings, [], now=state.clock.now(), broadcasts=False) != 0:
        raise click.exceptions.Exit(1)
    pid_file = settings.paths.var / PID_FILE
    try:
        pid = int(pid_file.read_text(encoding="ascii"))
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        raise MailengineError(f"no running engine found (no live process in {pid_file})") from None
    click.echo(f"asked the engine (process {pid}) to reload its workflows")


@click.command("simulate")
@click.argument("workflow_name", metavar="WORKFLOW")
@click.option("--customer", "email", required=True)
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True)
@pass_context
def simulate_command(state: CliContext, workflow_name: str, email: str, days: int) -> None:
    """Which mails a customer would get from WORKFLOW, and when, or why none; nothing is sent.

    The trigger fires when the engine would fire it; the audience, consent, suppression,
    re-entry, frequency cap and quiet hours apply as in the engine, on the customer's data
    as it is now."""
    settings = state.settings
    database = state.ready_database()
    workflow = find_workflow(settings, workflow_name)
    customer_id = _customer_id(database, email)
    runner = WorkflowRunner(
        database,
        WorkflowRegistry(database, settings.paths.workflows),
        settings,
        secret=secret_key(settings),
    )
    hold = open_ticket_hold if settings.engine.hold_marketing_during_open_ticket else None
    start = state.clock.now()
    others = load_workflows([settings.paths.workflows]).workflows.values()
    result = simulate(database, runner, workflow, customer_id, start, days, hold, others)
    with database.session() as session:
        recipient = load_recipients(session, [customer_id])[customer_id]
    zone = zone_of(recipient.profile.get("timezone"), runner.zone)
    click.echo(
        f"{workflow.name} for {recipient.email}, {days} days from "
        f"{start.astimezone(zone):%Y-%m-%d %H:%M} (times in {zone.key}):"
    )
    click.echo(trigger_line(workflow, result, runner.zone, zone))
    leaving = exit_line(workflow)
    if leaving:
        click.echo(leaving)
    print_simulation(click.echo, workflow, result, _composer(settings), recipient, zone, days)


@click.command()
@click.argument("workflow_name", metavar="WORKFLOW")
@click.option(
    "--step",
    "send_number",
    type=click.IntRange(min=1),
    help="The N-th send step (1, 2, ... as `simulate` lists them) [default: 1].",
)
@click.option("--step-id", help="A send step by its id instead (1, 3, 5.then.1, ...).")
@click.option("--customer", "email", required=True)
@click.option("--format", "output", type=click.Choice(["html", "text", "eml"]), default="html")
@click.option("-o", "--output-file", type=click.Path(path_type=Path, dir_okay=False))
@pass_context
def preview(
    state: CliContext,
    workflow_name: str,
    send_number: int | None,
    step_id: str | None,
    email: str,
    output: str,
    output_file: Path | None,
) -> None:
    """Exactly what a customer would receive from a send step (nothing sent, no coupon used);
    a warning on stderr when the customer is not in the workflow's audience, and why."""
    settings = state.settings
    database = state.ready_database()
    workflow = find_workflow(settings, workflow_name)
    if send_number is not None and step_id is not None:
        raise click.UsageError("give --step or --step-id, not both")
    step = choose_send_step(workflow, send_number, step_id)
    customer_id = _customer_id(database, email)
    composer = Composer(
        settings,
        TemplateLibrary(settings.paths.templates, shop_locale=settings.locale),
        secret_key(settings),
    )
    shown = StepPreviewer(composer).for_customer(
        database, workflow, step, customer_id, state.clock.now()
    )
    if shown.not_in_audience:
        click.echo(
            f"warning: {shown.customer} is not in {workflow.name}'s audience now: "
            + "; ".join(shown.not_in_audience),
            err=True,
        )
    composed = shown.composed
    if output == "html":
        content: bytes = composed.rendered.html.encode()
    elif output == "text":
        content = composed.rendered.text.encode()
    else:
        content = composed.envelope.data
    if output_file is None:
        click.echo(content.decode("utf-8", "replace"))
    else:
        output_file.write_bytes(content)
        click.echo(f"wrote {output_file} ({len(content)} bytes): {composed.rendered.subject}")


def _customer_id(database: Database, email: str) -> int:
    with database.session() as session:
        customer = get_customer(session, email.strip().lower())
    if customer is None or customer.id is None:
        raise UnknownCustomerError(f"no customer has the address {email}")
    return customer.id


def _composer(settings: Settings) -> Composer:
    """A composer for showing subjects: its links are never shown, so a throwaway key signs
    them (no key file is made for a look)."""
    return Composer(
        settings,
        TemplateLibrary(settings.paths.templates, shop_locale=settings.locale),
        secrets.token_bytes(32),
    )
