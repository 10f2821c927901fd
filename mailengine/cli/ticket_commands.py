"""Support tickets on the command line: `tickets [--open]`, `ticket show N`, `ticket close N`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from sqlmodel import Session

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.errors import MailengineError
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.parse import parse_inbound
from mailengine.store.database import Database
from mailengine.store.orders import orders_of
from mailengine.store.tickets import (
    TicketMessage,
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
@format_option
@pass_context
def tickets(state: CliContext, open_only: bool, limit: int, output_format: OutputFormat) -> None:
    """List support tickets, the most recently active first (times in the shop's zone)."""
    printer = TablePrinter(output_format, state.settings.zone)
    print_tickets(state.ready_database(), printer, open_only=open_only, limit=limit)


@click.group("ticket")
def ticket() -> None:
    """Look at or close one support ticket."""


@ticket.command("show")
@click.argument("number")
@format_option
@pass_context
def show(state: CliContext, number: str, output_format: OutputFormat) -> None:
    """Show ticket NUMBER: its customer, their recent orders, and every message."""
    printer = TablePrinter(output_format, state.settings.zone)
    print_ticket(state.ready_database(), ticket_number(number), printer)


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


def minutes(moment: datetime) -> str:
    """A time the table shows (already in the shop's zone) to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M")


def _items(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{i.get('quantity', 1)} × {i.get('name', '?')}" for i in items)


TICKET_COLUMNS = (
    Column("reference", "ref"),
    Column("number", table=False),
    Column("state"),
    Column("from", wrap=True),
    Column("address", table=False),
    Column("customer_id", table=False),
    Column("subject", wrap=True),
    Column("opened_at", "opened", show=minutes),
    Column("last_message_at", "last message", show=minutes),
    Column("closed_at", table=False),
    Column("messages", "msgs", right=True),
    Column("acknowledged_at", "acked", show=minutes),
)
ORDER_COLUMNS = (
    Column("external_id", "order"),
    Column("placed_at", "placed", show=minutes),
    Column("status"),
    Column("items", show=lambda items: _items(items), wrap=True),
    Column("expected_ship_date", "expected ship date"),
)
MESSAGE_COLUMNS = (
    Column("received_at"),
    Column("from"),
    Column("subject"),
    Column("classification"),
    Column("text"),
)


def print_tickets(
    database: Database, printer: TablePrinter, *, open_only: bool, limit: int
) -> None:
    with database.session() as session:
        rows = list_tickets(session, open_only=open_only, limit=limit)
    printer.print(
        Rows(
            "tickets",
            TICKET_COLUMNS,
            [_ticket_record(row) for row in rows],
            title="Open tickets" if open_only else "Tickets",
            empty="no open tickets" if open_only else "no tickets",
        )
    )


def _ticket_record(row: TicketRow) -> dict[str, Any]:
    return {
        "reference": row.reference,
        "number": row.id,
        "state": row.state,
        "from": row.address + ("" if row.customer_id is None else " (customer)"),
        "address": row.address,
        "customer_id": row.customer_id,
        "subject": row.subject or "(no subject)",
        "opened_at": row.opened_at,
        "last_message_at": row.last_message_at,
        "closed_at": row.closed_at,
        "messages": row.messages,
        "acknowledged_at": row.acknowledged_at,
    }


def print_ticket(database: Database, number: int, printer: TablePrinter) -> None:
    with database.session() as session:
        row = get_ticket(session, number)
        if row is None:
            raise TicketNotFoundError(_missing(number))
        customer = _customer_line(session, row)
        orders = orders_of(session, row.customer_id, 5) if row.customer_id is not None else []
        messages = [(found, parse_inbound(found.raw)) for found in ticket_messages(session, number)]
    order_rows = Rows(
        "orders",
        ORDER_COLUMNS,
        [
            {
                "external_id": order.external_id,
                "placed_at": order.placed_at,
                "status": order.status,
                "items": order.items,
                "expected_ship_date": order.expected_ship_date,
            }
            for order in orders
        ],
        title="Recent orders",
        empty="",
    )
    if printer.output_format == "table":
        _print_ticket_for_people(row, customer, order_rows, messages, printer)
        return
    message_rows = [
        {
            "received_at": message.received_at,
            "from": message.from_address or parsed.from_header,
            "subject": message.subject or parsed.subject,
            "classification": message.classification,
            "text": parsed.body_text.strip(),
        }
        for message, parsed in messages
    ]
    printer.print(
        order_rows,
        Rows("messages", MESSAGE_COLUMNS, message_rows),
        meta={"ticket": {**_ticket_record(row), "customer": customer}},
    )


def _print_ticket_for_people(
    row: TicketRow,
    customer: str,
    orders: Rows,
    messages: list[tuple[TicketMessage, InboundMessage]],
    printer: TablePrinter,
) -> None:
    out = Console(highlight=False)
    out.print(f"[bold]{row.reference}[/bold] {escape(row.subject or '(no subject)')}")
    out.print(f"state: {row.state}, opened {printer.shown(row.opened_at)}", markup=False)
    if row.closed_at is not None:
        out.print(f"closed {printer.shown(row.closed_at)}", markup=False)
    out.print(f"from: {customer}", markup=False)
    printer.print(orders)
    for message, parsed in messages:
        sender = message.from_address or parsed.from_header
        out.rule(Text(f"{printer.shown(message.received_at)}  {sender}"))
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
