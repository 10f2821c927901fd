"""Commands around what customers did with their mail: the ROI report, export and erasure."""

from __future__ import annotations

import csv
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from babel.numbers import format_currency
from rich import box
from rich.console import Console
from rich.table import Table

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.cli.context import CliContext, pass_context
from mailengine.config import Settings
from mailengine.errors import MailengineError
from mailengine.money import to_major
from mailengine.store.privacy import export_customer, forget_customer
from mailengine.store.reporting import ReportRow, build_report
from mailengine.web.api_keys import hash_api_key, new_api_key

_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS = (
    "workflow", "step", "sent", "delivered", "deferred", "bounced", "suppressed", "opened",
    "clicked", "unsubscribed", "conversions", "revenue", "revenue_per_recipient", "held_out",
    "conversion_rate", "holdout_conversion_rate", "lift", "incremental_revenue",
)  # fmt: skip


class UnknownCustomerError(MailengineError, LookupError):
    """No customer has the address given."""


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
@click.option("--workflow", default=None, help="Only this workflow.")
@click.option(
    "--window",
    default="5d",
    show_default=True,
    help="Orders this long after a send or click count as its conversions.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@pass_context
def report(
    state: CliContext, since: str, workflow: str | None, window: str, output_format: str
) -> None:
    """Per workflow and step: sends, opens, clicks, unsubscribes, conversions, revenue, lift."""
    settings = state.settings
    now = state.clock.now()
    start = parse_since(since, settings, now)
    database = state.ready_database()
    with database.session() as session:
        rows = build_report(session, start, now, workflow=workflow, window=parse_span(window))
    records = [report_record(row, settings.currency) for row in rows]
    if output_format == "json":
        click.echo(json.dumps({"since": start.isoformat(), "rows": records}, indent=2))
    elif output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        _print_table(rows, settings, start)


def report_record(row: ReportRow, currency: str) -> dict[str, Any]:
    """One row as plain values: money in major units as text ("1234.50"), rates as fractions."""

    def money(minor: float | None) -> str | None:
        return None if minor is None else str(_major(minor, currency))

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
    }


def _major(minor: float, currency: str) -> Decimal:
    return to_major(minor, currency)


def _print_table(rows: list[ReportRow], settings: Settings, start: datetime) -> None:
    def money(minor: float | None) -> str:
        if minor is None:
            return "–"
        amount = _major(minor, settings.currency)
        return format_currency(amount, settings.currency, locale=settings.locale)

    def percent(value: float | None, signed: bool = False) -> str:
        return "–" if value is None else f"{value * 100:{'+' if signed else ''}.1f}%"

    table = Table(
        title=f"Sends since {start.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in (
        "workflow / step", "sent", "deliv.", "bounced", "opened", "clicked", "unsub.",
        "conv.", "revenue", "per recip.", "held out", "conv. mailed/held", "lift",
    ):  # fmt: skip
        left = header == "workflow / step"
        table.add_column(header, justify="left" if left else "right", no_wrap=not left)
    for row in rows:
        total = row.step == "(all)"
        table.add_row(
            f"{row.workflow} (all)" if total else f"{row.workflow} · {row.step}",
            str(row.sent),
            str(row.delivered),
            str(row.bounced),
            str(row.opened),
            str(row.clicked),
            str(row.unsubscribed),
            str(row.conversions),
            money(row.revenue_minor),
            money(row.revenue_per_recipient_minor),
            str(row.holdout.members) if row.holdout.members else "–",
            f"{percent(row.mailed.conversion_rate)}/{percent(row.holdout.conversion_rate)}",
            percent(row.lift, signed=True),
            style="bold" if total else None,
            end_section=total,
        )
    Console().print(table if rows else "No sends in this period.")


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
