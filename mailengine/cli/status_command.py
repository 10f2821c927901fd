"""`mailengine status`: the state of the shop's data and the engine, section by section.

The sections come from the functions of `STATUS_SECTIONS`, each given a database session, the
settings and the time; add a function there to add sections. Every section prints as a
table, as CSV rows or as a JSON object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import click
from sqlmodel import Session

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.outbox_status import shown_moment
from mailengine.cli.tables import Fact, Facts, OutputFormat, Section, TablePrinter, format_option
from mailengine.config import Settings
from mailengine.money import to_major
from mailengine.store.models import OUTBOX_STATES
from mailengine.store.outbox_health import outbox_health
from mailengine.store.summary import StoreSummary, summarize
from mailengine.store.workflow_files import broken_files

StatusSections = Callable[[Session, Settings, datetime], list[Section]]


def shop_sections(session: Session, settings: Settings, now: datetime) -> list[Section]:
    """The customer view: customers by consent; orders, revenue and buyers."""
    summary = summarize(session, now)
    return [_customers(summary), _orders(summary, settings.currency)]


def _customers(summary: StoreSummary) -> Facts:
    facts = [Fact("customers", "customers", summary.customers)]
    for consent, count in sorted(summary.consent.items()):
        facts.append(Fact(f"consent_{consent}", f"consent {consent}", count, indent=1))
    return Facts("customers", facts, title="Customers")


def _orders(summary: StoreSummary, currency: str) -> Facts:
    facts = [Fact("orders", "orders", summary.orders)]
    for channel, count in sorted(summary.orders_by_channel.items()):
        facts.append(Fact(f"orders_{channel}", channel, count, indent=1))
    facts += [
        Fact(
            "revenue",
            "revenue",
            to_major(summary.revenue_minor, currency),
            show=lambda amount: f"{amount:,} {currency}",
        ),
        Fact("currency", "currency", currency),
        Fact("buyers", "buyers", summary.buyers),
        Fact("lapsed_buyers", "lapsed (no order in 90 days)", summary.lapsed_buyers, indent=1),
        Fact(
            "top_fifth_revenue_share",
            "revenue from the top 20 %",
            round(summary.top_fifth_revenue_share, 4),
            show=lambda share: f"{share:.0%}",
            indent=1,
        ),
        Fact("last_order_at", "last order", summary.last_order_at),
    ]
    return Facts("orders", facts, title="Orders")


def outbox_sections(session: Session, settings: Settings, now: datetime) -> list[Section]:
    """The outbox: each state with its count, deferred and failed mail by fault class, and
    the longest waits (in the shop's zone, with how long ago)."""
    health = outbox_health(session)
    zone = settings.zone

    def moment(value: datetime | None) -> str:
        return shown_moment(value, now, zone)

    facts: list[Fact] = []
    for state in OUTBOX_STATES:
        figures = health.state(state)
        facts.append(Fact(f"outbox_{state}", f"outbox {state}", figures.count))
        for fault, count in health.classes(state).items():
            key = "_".join(re.findall(r"[a-z0-9]+", fault.lower()))
            facts.append(Fact(f"outbox_{state}_{key}", fault, count, indent=1))
        waits: list[tuple[str, str, datetime | None]] = []
        if state == "queued" and health.overdue_seconds(state, now) > 0:
            waits.append(("due_longest", "due longest", figures.earliest_due))
        elif state == "sending" and figures.count:
            waits.append(("claimed_longest", "claimed longest", figures.oldest_claimed))
        elif state == "deferred" and figures.count:
            waits.append(("oldest_planned", "oldest planned", figures.oldest_created))
            waits.append(("earliest_retry_due", "earliest retry due", figures.earliest_due))
        for key, label, value in waits:
            facts.append(Fact(f"outbox_{state}_{key}", label, value, show=moment, indent=1))
    return [Facts("outbox", facts, title="Outbox")]


def workflow_file_sections(session: Session, settings: Settings, now: datetime) -> list[Section]:
    """The workflow files the engine found broken at its last start or reload: each with its
    problems (`path:line:col: message`) and the version that runs in its place (stored when)
    or why none does. Facts, so that the CSV keeps its `section,figure,value` columns; in
    JSON each file is an object."""
    broken = broken_files(session)
    facts = [
        Fact("broken", "broken files", len(broken)),
        Fact(
            "not_running",
            "running nothing in their place",
            sum(1 for found in broken if found.running_version is None),
            indent=1,
        ),
    ]
    for found in broken:
        running = (
            f"the version stored at {shown_moment(found.running_stored_at, now, settings.zone)}"
            if found.running_stored_at is not None
            else f"not running: {found.note}"
        )
        details = {
            "workflow": found.workflow,
            "problems": list(found.problems),
            "running": running,
            "running_version": found.running_version,
            "running_stored_at": found.running_stored_at,
            "found_at": found.found_at,
        }
        label = "\n".join([found.path, *(f"    {problem}" for problem in found.problems)])
        facts.append(Fact(found.path, label, details, show=_running, indent=1))
    return [Facts("workflow_files", facts, title="Workflow files")]


def _running(details: dict[str, object]) -> str:
    return str(details["running"])


STATUS_SECTIONS: tuple[StatusSections, ...] = (
    shop_sections,
    outbox_sections,
    workflow_file_sections,
)


@click.command()
@format_option
@pass_context
def status(state: CliContext, output_format: OutputFormat) -> None:
    """A summary: customers and consent, orders, revenue, lapsed buyers, the outbox (queued,
    being sent, deferred and failed by cause, the longest waits), and the workflow files the
    engine found broken with the version it runs in their place; times in the shop's zone,
    to the second."""
    settings = state.settings
    database = state.ready_database()
    now = state.clock.now()
    with database.session() as session:
        sections = [
            section for build in STATUS_SECTIONS for section in build(session, settings, now)
        ]
    printer = TablePrinter(output_format, settings.zone)
    printer.note(f"mailengine — {database.safe_url}, {printer.shown(now)}")
    printer.print(
        *sections, meta={"database": database.safe_url, "at": now, "zone": settings.timezone}
    )
