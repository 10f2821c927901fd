"""Support tickets on the command line: `tickets [--open]`, `ticket show N`, `ticket close N`."""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from mailengine.cli.context import CliContext, pass_context
from mailengine.errors import MailengineError
from mailengine.inbound.parse import parse_inbound
from mailengine.store.database import Database
from mailengine.store.orders import orders_of
from mailengine.store.tickets import (
    TicketRow,
    close_ticket,
    customer_summary,
    get_ticket,
    list_tickets,
    ticket_messages,
)

_EXCERPT = 1_500


class TicketNotFoundError(MailengineError, LookupError):
    """No ticket has the number given."""


def ticket_number(value: str) -> int:
    """`42`, `T-42` or `[T-42]` as 42."""
    text = value.strip().strip("[]").upper().removeprefix("T-")
    if not text.isdigit():
        raise click.BadParameter(f"{value!r} is not a ticket number (e.g. 42 or T-42)")
    return int(text)


@click.command("tickets")
@click.option("--open", "open_only", is_flag=True, help="Only tickets still open.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_context
def tickets(state: CliContext, open_only: bool, limit: int) -> None:
    """List support tickets, the most recently active first."""
    print_tickets(state.ready_database(), open_only=open_only, limit=limit)


@click.group("ticket")
def ticket() -> None:
    """Look at or close one support ticket."""


@ticket.command("show")
@click.argument("number")
@pass_context
def show(state: CliContext, number: str) -> None:
    """Show ticket NUMBER: its customer, their recent orders, and every message."""
    print_ticket(state.ready_database(), ticket_number(number))


@ticket.command("close")
@click.argument("number")
@pass_context
def close(state: CliContext, number: str) -> None:
    """Close ticket NUMBER (a new message from the customer opens it again)."""
    database = state.ready_database()
    found = ticket_number(number)
    with database.transaction() as session:
        if get_ticket(session, found) is None:
            raise TicketNotFoundError(_missing(found))
        closed = close_ticket(session, found, state.clock.now())
    click.echo(f"T-{found} closed" if closed else f"T-{found} was closed already")


def print_tickets(
    database: Database, *, open_only: bool, limit: int, console: Console | None = None
) -> None:
    out = console or Console(highlight=False)
    with database.session() as session:
        rows = list_tickets(session, open_only=open_only, limit=limit)
    if not rows:
        out.print("no open tickets" if open_only else "no tickets")
        return
    table = Table(title="Open tickets" if open_only else "Tickets")
    for name in ("ref", "state", "from", "subject", "opened", "last message", "msgs", "acked"):
        table.add_column(name, justify="right" if name == "msgs" else "left")
    for row in rows:
        table.add_row(
            row.reference,
            row.state,
            row.address + ("" if row.customer_id is None else " (customer)"),
            row.subject or "(no subject)",
            _when(row.opened_at),
            _when(row.last_message_at),
            str(row.messages),
            _when(row.acknowledged_at) if row.acknowledged_at else "-",
        )
    out.print(table)


def print_ticket(database: Database, number: int, console: Console | None = None) -> None:
    out = console or Console(highlight=False)
    with database.session() as session:
        row = get_ticket(session, number)
        if row is None:
            raise TicketNotFoundError(_missing(number))
        customer = _customer_line(session, row)
        orders = orders_of(session, row.customer_id, 5) if row.customer_id is not None else []
        messages = ticket_messages(session, number)
    out.print(f"[bold]{row.reference}[/bold] {row.subject or '(no subject)'}")
    out.print(f"state: {row.state}, opened {_when(row.opened_at)}", markup=False)
    if row.closed_at is not None:
        out.print(f"closed {_when(row.closed_at)}", markup=False)
    out.print(f"from: {customer}", markup=False)
    if orders:
        table = Table(title="Recent orders")
        for name in ("order", "placed", "status", "items", "expected ship date"):
            table.add_column(name)
        for order in orders:
            table.add_row(
                order.external_id,
                _when(order.placed_at),
                order.status,
                ", ".join(f"{i.get('quantity', 1)} × {i.get('name', '?')}" for i in order.items),
                order.expected_ship_date.isoformat() if order.expected_ship_date else "-",
            )
        out.print(table)
    for message in messages:
        parsed = parse_inbound(message.raw)
        out.rule(f"{_when(message.received_at)}  {message.from_address or parsed.from_header}")
        out.print(f"Subject: {message.subject or parsed.subject}", markup=False)
        text = parsed.body_text.strip()
        cut = len(text) > _EXCERPT
        out.print(text[:_EXCERPT] + (" [...]" if cut else ""), markup=False)


def _customer_line(session: Session, row: TicketRow) -> str:
    if row.customer_id is None:
        return f"{row.address} (not a customer)"
    found = customer_summary(session, row.customer_id)
    if found is None:
        return row.address
    return f"{found.label}, customer #{found.id}, {found.orders_count} order(s)"


def _missing(number: int) -> str:
    return f"there is no ticket T-{number}; `mailengine tickets` lists them"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
