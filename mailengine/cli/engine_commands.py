"""Commands that run the engine or look into it: run, event, reload, simulate, preview."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from mailengine.capture import CaptureServer
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.workflow_commands import find_workflow, run_validate
from mailengine.composer import Composer
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.service import Component, Engine, OnceReport
from mailengine.engine.simulation import simulate
from mailengine.errors import MailengineError, quoted
from mailengine.inbound.service import InboundComponent
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.customers import get_customer
from mailengine.store.events import record_event
from mailengine.store.models import Order
from mailengine.store.orders import order_of, placed_order_data
from mailengine.store.recipients import load_recipients
from mailengine.store.records import ClaimedSend
from mailengine.store.tickets import open_ticket_hold
from mailengine.web.app import create_app, topics_from_workflows
from mailengine.web.server import WebComponent
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import SendStep, Workflow

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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("apscheduler", "alembic", "aiosmtpd", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
    web = _web_component(engine) if settings.http.enabled and not once else None
    if web is not None:
        engine.components.append(web)
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
    if settings.inbound.smtp.enabled:
        click.echo(
            f"support mail to {settings.inbound.support_address} is received on "
            f"{settings.inbound.smtp.host}:{settings.inbound.smtp.port}"
        )
    click.echo(f"workflows: {settings.paths.workflows}; stop with Ctrl-C, reload with SIGHUP")
    try:
        asyncio.run(_serve(engine))
    finally:
        pid_file.unlink(missing_ok=True)


def _web_component(engine: Engine) -> Component:
    settings = engine.settings
    workflows = load_workflows([settings.paths.workflows]).workflows.values()
    app = create_app(
        settings,
        engine.database,
        api_key_hashes=settings.http.api_keys,
        scheduler_running=lambda: engine.scheduler_running,
        double_opt_in=settings.http.double_opt_in,
        topics=topics_from_workflows(workflows),
        clock=engine.clock,
        secret=secret_key(settings),
    )
    return WebComponent(app, settings.http.host, settings.http.port, settings.http.trusted_proxies)


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
    if run_validate(settings, []) != 0:
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
    """Which mails a customer would get from WORKFLOW, and when; nothing is sent."""
    settings = state.settings
    database = state.ready_database()
    workflow = find_workflow(settings, workflow_name)
    with database.session() as session:
        customer = get_customer(session, email.strip().lower())
    if customer is None or customer.id is None:
        raise UnknownCustomerError(f"no customer has the address {email}")
    registry = WorkflowRegistry(database, settings.paths.workflows)
    runner = WorkflowRunner(database, registry, settings)
    start = state.clock.now()
    result = simulate(database, runner, workflow, customer.id, customer.timezone, start, days)
    composer = Composer(settings, TemplateLibrary(settings.paths.templates), secret_key(settings))
    with database.session() as session:
        recipient = load_recipients(session, [customer.id])[customer.id]
    context = composer.context(recipient, start)
    zone = runner.zone
    click.echo(
        f"{workflow.name} for {email}, {days} days from {start.astimezone(zone):%Y-%m-%d %H:%M}:"
    )
    for mail in result.mails:
        subject = composer.library.render(mail.template, context, subject=mail.subject).subject
        click.echo(
            f"  {mail.at.astimezone(zone):%Y-%m-%d %H:%M}  step {mail.step_id:<8} "
            f"{mail.template:<28} {subject}"
        )
    if not result.mails:
        click.echo("  no mail")
    click.echo("decisions:")
    for moment, decision in result.decisions:
        click.echo(f"  {moment.astimezone(zone):%Y-%m-%d %H:%M}  {decision}")
    click.echo(f"after {days} days: {result.outcome}")


@click.command()
@click.argument("workflow_name", metavar="WORKFLOW")
@click.option("--step", "step_ref", help="A send step: its number among the sends (1, 2...) or id.")
@click.option("--customer", "email", required=True)
@click.option("--format", "output", type=click.Choice(["html", "text", "eml"]), default="html")
@click.option("-o", "--output-file", type=click.Path(path_type=Path, dir_okay=False))
@pass_context
def preview(
    state: CliContext,
    workflow_name: str,
    step_ref: str | None,
    email: str,
    output: str,
    output_file: Path | None,
) -> None:
    """Exactly what a customer would receive from a step (nothing sent, no coupon used)."""
    settings = state.settings
    database = state.ready_database()
    workflow = find_workflow(settings, workflow_name)
    step = _send_step(workflow, step_ref)
    with database.session() as session:
        customer = get_customer(session, email.strip().lower())
        if customer is None or customer.id is None:
            raise UnknownCustomerError(f"no customer has the address {email}")
        recipient = load_recipients(session, [customer.id])[customer.id]
    now = state.clock.now()
    composer = Composer(settings, TemplateLibrary(settings.paths.templates), secret_key(settings))
    send = ClaimedSend(
        id=0,
        idempotency_key="preview",
        kind="transactional" if workflow.transactional else "marketing",
        workflow=workflow.name,
        step=step.id,
        customer_id=customer.id,
        recipient=recipient.email,
        template=step.template,
        subject=step.subject,
        preheader=step.preheader,
        payload={},
        message_id=f"<preview.{workflow.name}.{step.id}@{settings.sender.domain}>",
        attempts=0,
        created_at=now,
    )
    coupon = None
    if step.coupon is not None:
        coupon = IssuedCoupon(
            code="PREVIEW-CODE",
            percent=step.coupon.percent,
            amount_minor=None if step.coupon.amount is None else int(step.coupon.amount * 100),
            currency=settings.currency if step.coupon.amount is not None else None,
            expires_at=now + step.coupon.valid_for,
        )
    composed = composer.compose(send, recipient, now, coupon)
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


def _send_step(workflow: Workflow, reference: str | None) -> SendStep:
    sends = [step for step in workflow.all_steps() if isinstance(step, SendStep)]
    if not sends:
        raise MailengineError(f"workflow {workflow.name} sends nothing")
    if reference is None:
        return sends[0]
    for step in sends:
        if step.id == reference:
            return step
    if reference.isdigit() and 1 <= int(reference) <= len(sends):
        return sends[int(reference) - 1]
    choices = ", ".join(f"{n} (step {s.id}, {s.template})" for n, s in enumerate(sends, 1))
    raise MailengineError(
        f"workflow {workflow.name} has no send step {reference}; sends: {choices}"
    )
