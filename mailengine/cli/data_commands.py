"""Commands for the customer data: schema upgrades, imports and demo data."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from mailengine.cli.context import CliContext, pass_context
from mailengine.clock import ensure_aware
from mailengine.dev import demo
from mailengine.errors import quoted
from mailengine.importing.importer import (
    ImportKind,
    ImportOptions,
    ImportReport,
    import_file,
)
from mailengine.importing.rejects import write_rejects
from mailengine.store.customers import count_customers

SHOWN_REJECTIONS = 200


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(state: CliContext) -> None:
    """Apply schema migrations (SQLite or PostgreSQL)."""
    database = state.database
    before = database.current_revision()
    database.upgrade()
    after = database.current_revision()
    if before == after:
        click.echo(f"{database.safe_url}: schema is current ({after})")
    else:
        click.echo(f"{database.safe_url}: schema upgraded from {before or 'empty'} to {after}")


@db.command("current")
@pass_context
def db_current(state: CliContext) -> None:
    """Show the schema revision of the database."""
    click.echo(state.database.current_revision() or "empty")


@click.group("import")
def import_group() -> None:
    """Import customers or orders from CSV or JSON Lines (upsert)."""


def _import_command(kind: ImportKind) -> click.Command:
    @click.command(kind, help=f"Upsert {kind} from FILE (.csv or .jsonl).")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--format", "file_format", type=click.Choice(["csv", "jsonl"]), default=None)
    @click.option("--batch-size", type=click.IntRange(1, 50_000), default=2000, show_default=True)
    @click.option(
        "--rejects",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write the rejected rows as they were, plus a reason column, to this file (the "
        "input's format), to fix and import again as it is.",
    )
    @pass_context
    def command(
        state: CliContext,
        file: Path,
        file_format: str | None,
        batch_size: int,
        rejects: Path | None,
    ) -> None:
        settings = state.settings
        database = state.ready_database()
        options = ImportOptions(
            zone=settings.zone,
            currency=settings.currency,
            now=state.clock.now(),
            batch_size=batch_size,
            file_format=file_format,
        )
        if sys.stderr.isatty() and file.exists():
            with _progress_bar() as bar:
                task = bar.add_task(file.name, total=file.stat().st_size)
                report = import_file(
                    database,
                    file,
                    kind,
                    options,
                    lambda done, _rows: bar.update(task, completed=done),
                )
        else:
            report = import_file(database, file, kind, options)
        _print_report(report, rejects)
        if not report.ok:
            raise click.exceptions.Exit(1)

    return command


import_group.add_command(_import_command("customers"))
import_group.add_command(_import_command("orders"))


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _print_report(report: ImportReport, rejects: Path | None) -> None:
    """Every problem of every rejected row (`file:line: column: reason`), then the rows that
    repeat an earlier row's address or order id, then the counts."""
    shown = report.rejected[:SHOWN_REJECTIONS]
    for rejection in shown:
        for problem in rejection.problems:
            click.echo(f"{report.path}:{rejection.line}: {problem}", err=True)
    hidden = len(report.rejected) - len(shown)
    if hidden > 0:
        click.echo(f"... and {hidden} more rejected rows (--rejects FILE lists all)", err=True)
    for repeat in report.repeats[:SHOWN_REJECTIONS]:
        click.echo(
            f"{report.path}:{repeat.line}: {repeat.column}: {quoted(repeat.value)} is also on "
            f"line {repeat.first_line}; the later row wins",
            err=True,
        )
    if len(report.repeats) > SHOWN_REJECTIONS:
        click.echo(f"... and {len(report.repeats) - SHOWN_REJECTIONS} more repeats", err=True)
    if rejects is not None:
        write_rejects(rejects, report.file_format, report.header, report.rejected)
        click.echo(f"rejected rows, each with its reason: {rejects}", err=True)
    repeated = f", {len(report.repeats)} repeated" if report.repeats else ""
    click.echo(
        f"{report.path}: {report.inserted} inserted, {report.updated} updated, "
        f"{len(report.rejected)} rejected{repeated}"
    )


@click.command("demo-data")
@click.option("--customers", type=click.IntRange(1, 10_000_000), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--now",
    "now_text",
    help="Pretend it is this moment (ISO 8601, e.g. 2026-11-23T00:00:00+00:00) [default: today].",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when customers exist already.")
@click.option(
    "--csv",
    "csv_folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write customers.csv and orders.csv to this folder instead of the database.",
)
@pass_context
def demo_data(
    state: CliContext,
    customers: int,
    seed: int,
    now_text: str | None,
    if_empty: bool,
    csv_folder: Path | None,
) -> None:
    """Deterministic, realistic shop data: customers, consent, two years of orders."""
    now = _parse_now(now_text) if now_text else demo.default_now()
    if csv_folder is not None:
        customer_path, order_path = demo.write_csv(customers, seed, now, csv_folder)
        click.echo(f"wrote {customer_path} and {order_path}")
        return
    database = state.ready_database()
    if if_empty:
        with database.session() as session:
            existing = count_customers(session)
        if existing:
            click.echo(f"{existing} customers already stored: no demo data added")
            return
    written_customers, written_orders = demo.load(database, customers, seed, now)
    click.echo(f"stored {written_customers} demo customers and {written_orders} orders")


def _parse_now(text: str) -> datetime:
    try:
        return ensure_aware(datetime.fromisoformat(text))
    except ValueError as error:
        raise click.BadParameter(f"{text}: {error}", param_hint="--now") from None
