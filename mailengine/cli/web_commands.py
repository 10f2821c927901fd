"""Commands around what customers did with their mail: the ROI report, export and erasure."""

from __future__ import annotations

import difflib
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from babel.numbers import format_currency

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.config import Settings
from mailengine.errors import MailengineError
from mailengine.money import to_major
from mailengine.store.privacy import export_customer, forget_customer
from mailengine.store.reporting import ALL_STEPS, ReportRow, build_report, reported_workflows
from mailengine.web.api_keys import hash_api_key, new_api_key
from mailengine.workflows.loader import load_workflows

_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UnknownCustomerError(MailengineError, LookupError):
    """No customer has the address given."""


class UnknownWorkflowError(MailengineError, LookupError):
    """No workflow has the name given."""


def parse_span(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90m` as a duration."""
    match = _SPAN.match(text)
    if match is None:
        raise click.BadParameter(f"'{text}' is not a duration like 30d, 12h, 2w or 90m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_since(text: str, settings: Settings, now: datetime) -> datetime:
    """A duration back from now (`30d`) or a date / date-time in the shop's time zone."""
    if _SPAN.match(text):
        return now - parse_span(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{text}' is neither a duration (30d) nor a date", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.zone)
    return moment


@click.command("report")
@click.option("--since", default="30d", show_default=True, help="30d, 12h, 2w, or a date.")
@click.option("--workflow", default=None, help="Only this workflow (an unknown name is an error).")
@click.option(
    "--window",
    default="5d",
    show_default=True,
    help="Orders this long after a send or click count as its conversions.",
)
@format_option
@pass_context
def report(
    state: CliContext, since: str, workflow: str | None, window: str, output_format: OutputFormat
) -> None:
    """Per workflow and step: sends, opens, clicks, unsubscribes, conversions, revenue, lift."""
    settings = state.settings
    now = state.clock.now()
    start = parse_since(since, settings, now)
    conversion_window = parse_span(window)
    database = state.ready_database()
    with database.session() as session:
        if workflow is not None:
            _check_workflow(workflow, reported_workflows(session), settings)
        rows = build_report(session, start, now, workflow=workflow, window=conversion_window)
    printer = TablePrinter(output_format, settings.zone)
    records = [report_record(row, settings.currency) for row in rows]
    printer.print(
        Rows(
            "rows",
            report_columns(settings),
            records,
            title=f"Sends since {printer.shown(start)}",
            empty="No sends in this period.",
            emphasis=lambda record: record["step"] == ALL_STEPS,
        ),
        meta={"since": start, "until": now, "workflow": workflow},
    )


def _check_workflow(name: str, stored: list[str], settings: Settings) -> None:
    """Refuse a name neither the store nor the workflows folder knows (a typo shows nothing)."""
    known = set(stored) | set(load_workflows([settings.paths.workflows]).workflows)
    if name in known:
        return
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UnknownWorkflowError(
        f"no workflow named '{name}'{hint}; known: {', '.join(sorted(known)) or 'none'}"
    )


def report_record(row: ReportRow, currency: str) -> dict[str, Any]:
    """One row as plain values: money in major units (Decimal), rates as fractions."""

    def money(minor: float | None) -> Decimal | None:
        return None if minor is None else _major(minor, currency)

    def rate(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "workflow": row.workflow,
        "step": row.step,
        "sent": row.sent,
        "delivered": row.delivered,
        "deferred": row.deferred,
        "bounced": row.bounced,
        "suppressed": row.suppressed,
        "opened": row.opened,
        "clicked": row.clicked,
        "unsubscribed": row.unsubscribed,
        "conversions": row.conversions,
        "revenue": money(row.revenue_minor),
        "revenue_per_recipient": money(row.revenue_per_recipient_minor),
        "held_out": row.holdout.members,
        "conversion_rate": rate(row.mailed.conversion_rate),
        "holdout_conversion_rate": rate(row.holdout.conversion_rate),
        "lift": rate(row.lift),
        "incremental_revenue": money(row.incremental_revenue_minor),
        # for people: one label, and the two conversion rates side by side
        "label": f"{row.workflow} {'(all)' if row.step == ALL_STEPS else '· ' + row.step}",
        "conversion_rates": (
            f"{_percent(row.mailed.conversion_rate)}/{_percent(row.holdout.conversion_rate)}"
        ),
    }


def _major(minor: float, currency: str) -> Decimal:
    return to_major(minor, currency)


def _percent(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else f"{value * 100:{'+' if signed else ''}.1f}%"


def report_columns(settings: Settings) -> list[Column]:
    """The report's columns: all of them for programs, the telling ones for people."""

    def money(amount: Decimal) -> str:
        return format_currency(amount, settings.currency, locale=settings.locale)

    def hidden(key: str) -> Column:
        return Column(key, right=True, table=False)

    return [
        Column("label", "workflow / step", table=True, data=False, wrap=True),
        Column("workflow", table=False),
        Column("step", table=False),
        Column("sent", right=True),
        Column("delivered", "deliv.", right=True),
        hidden("deferred"),
        Column("bounced", right=True),
        hidden("suppressed"),
        Column("opened", right=True),
        Column("clicked", right=True),
        Column("unsubscribed", "unsub.", right=True),
        Column("conversions", "conv.", right=True),
        Column("revenue", right=True, show=money),
        Column("revenue_per_recipient", "per recip.", right=True, show=money),
        Column("held_out", "held out", right=True, show=lambda n: str(n) if n else "–"),
        Column("conversion_rates", "conv. mailed/held", right=True, data=False),
        hidden("conversion_rate"),
        hidden("holdout_conversion_rate"),
        Column("lift", right=True, show=lambda value: _percent(value, signed=True)),
        Column("incremental_revenue", right=True, table=False),
    ]


@click.group("customer")
def customer() -> None:
    """One customer's data: export everything held, or erase it."""


def _address(email: str) -> str:
    try:
        return normalize_email(email)
    except InvalidAddressError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None


@customer.command("export")
@click.argument("email")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None)
@pass_context
def export(state: CliContext, email: str, output: Path | None) -> None:
    """Everything held about EMAIL as JSON (to stdout, or --output FILE)."""
    address = _address(email)
    database = state.ready_database()
    with database.session() as session:
        data = export_customer(session, address)
    if data is None:
        raise UnknownCustomerError(f"no customer has the address {address}")
    document = {"exported_at": state.clock.now().isoformat(), "address": address, **data}
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")


@customer.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask before erasing.")
@pass_context
def forget(state: CliContext, email: str, yes: bool) -> None:
    """Erase the personal data of EMAIL; the address stays suppressed (as a hash)."""
    address = _address(email)
    database = state.ready_database()
    if not yes:
        click.confirm(f"Erase the personal data of {address}? This cannot be undone", abort=True)
    with database.transaction() as session:
        erasure = forget_customer(session, address, state.clock.now())
    if erasure.customer_id is None:
        click.echo(f"no customer had {address}; it is on the suppression list and never mailed")
    else:
        click.echo(
            f"customer {erasure.customer_id}: personal data erased; the address stays on the "
            "suppression list (as a hash) and is never mailed again"
        )


@click.command("api-key")
def api_key() -> None:
    """Make a new API key and print it with the hash the settings take."""
    key = new_api_key()
    click.echo(f"key:  {key}")
    click.echo(f"hash: {hash_api_key(key)}   (add to http.api_keys; give the key to the shop)")
