"""Support tickets on the command line: `tickets [--open]` with their waiting times, `ticket
show N`, `ticket close N`, and `ticket reply N --file F` for scripts."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import IO, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from sqlmodel import Session

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.errors import MailengineError
from mailengine.inbound.human_replies import HumanReply, plan_human_reply
from mailengine.inbound.message import InboundMessage
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.team_replies import TEAM_ROLES
from mailengine.inbound.waiting_clock import short_duration, ticket_clock
from mailengine.store.database import Database
from mailengine.store.desk import Author, EntryRow, ticket_entries
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
from mailengine.store.users import user_by_email

_EXCERPT = 1_500
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")


class TicketNotFoundError(MailengineError, LookupError):
    """No ticket has the number given."""


def ticket_number(value: str) -> int:
    """`42`, `T-42` or `[T-42]` as 42."""
    text = value.strip().strip("[]").upper().removeprefix("T-")
    if not text.isdigit():
        raise click.BadParameter(f"{value!r} is not a ticket number (e.g. 42 or T-42)")
    return int(text)


@click.command("tickets")
@click.option("--open", "open_only", is_flag=True, help="Only tickets not closed.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option
@pass_context
def tickets(state: CliContext, open_only: bool, limit: int, output_format: OutputFormat) -> None:
    """List support tickets, the most recently active first (times in the shop's zone), with
    how long each customer has waited for a person and how long the first answer took."""
    printer = TablePrinter(output_format, state.settings.zone)
    database = state.ready_database()
    print_tickets(database, printer, open_only=open_only, limit=limit, now=state.clock.now())


@click.group("ticket")
def ticket() -> None:
    """Look at, answer or close one support ticket."""


@ticket.command("show")
@click.argument("number")
@format_option
@pass_context
def show(state: CliContext, number: str, output_format: OutputFormat) -> None:
    """Show ticket NUMBER: its customer, their recent orders, and every message."""
    printer = TablePrinter(output_format, state.settings.zone)
    print_ticket(state.ready_database(), ticket_number(number), printer, state.clock.now())


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


@ticket.command("reply")
@click.argument("number")
@click.option(
    "--file",
    "source",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="The answer's text, as it is to be sent ('-': standard input).",
)
@click.option("--as", "author", help="The studio account answering (support or admin role).")
@click.option("--close", "close_it", is_flag=True, help="Close the ticket once answered.")
@click.option("--no-quote", is_flag=True, help="Leave out the customer's last message.")
@click.option(
    "--key",
    help="Names this answer: the same key never sends twice (default: the ticket and text).",
)
@pass_context
def reply(
    state: CliContext,
    number: str,
    source: IO[str],
    author: str | None,
    close_it: bool,
    no_quote: bool,
    key: str | None,
) -> None:
    """Answer ticket NUMBER: the text goes to the customer through the outbox, as an answer
    from the studio does (From the support address, in their thread); `mailengine run` sends
    it. Running the same command again sends nothing more."""
    found, body = ticket_number(number), source.read()
    if key is not None and not _KEY.match(key):
        raise click.BadParameter("letters, digits and . _ : - only, at most 80", param_hint="--key")
    digest = hashlib.sha256(f"{found}\x00{body.strip()}".encode()).hexdigest()[:32]
    database = state.ready_database()
    with database.transaction() as session:
        if get_ticket(session, found) is None:
            raise TicketNotFoundError(_missing(found))
        answer = HumanReply(
            ticket_id=found,
            author=_author(session, author),
            body=body,
            request_key=f"cli:{key or digest}",
            quote=not no_quote,
            close=close_it,
        )
        outcome = plan_human_reply(session, state.settings, answer, state.clock.now())
    if not outcome.planned:
        click.echo(f"T-{found}: this answer was planned before; nothing is sent again")
        return
    closed = " and the ticket is closed" if close_it else ""
    click.echo(f"T-{found}: the answer is in the outbox{closed}; `mailengine run` sends it")


class NotATeamMemberError(MailengineError, ValueError):
    """`--as` names no studio account that may answer tickets."""


def _author(session: Session, email: str | None) -> Author:
    if email is None:
        return Author(None, "", "cli")
    user = user_by_email(session, email.strip().lower())
    if user is None or user.role not in TEAM_ROLES:
        raise NotATeamMemberError(
            f"--as {email}: no studio account with the support or admin role has this address "
            "(`mailengine user list` shows them)"
        )
    return Author(user.id, user.email, "cli")


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
    Column("waiting", show=short_duration),
    Column("first_answer", "first answer", show=short_duration),
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
    database: Database, printer: TablePrinter, *, open_only: bool, limit: int, now: datetime
) -> None:
    with database.session() as session:
        rows = list_tickets(session, open_only=open_only, limit=limit)
    printer.print(
        Rows(
            "tickets",
            TICKET_COLUMNS,
            [_ticket_record(row, now) for row in rows],
            title="Open tickets" if open_only else "Tickets",
            empty="no open tickets" if open_only else "no tickets",
        )
    )


def _ticket_record(row: TicketRow, now: datetime) -> dict[str, Any]:
    clock = ticket_clock(row, now)
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
        "waiting": clock.waiting if row.state == "open" else None,
        "first_answer": clock.first_answer,
    }


def print_ticket(database: Database, number: int, printer: TablePrinter, now: datetime) -> None:
    with database.session() as session:
        row = get_ticket(session, number)
        if row is None:
            raise TicketNotFoundError(_missing(number))
        customer = _customer_line(session, row)
        orders = orders_of(session, row.customer_id, 5) if row.customer_id is not None else []
        messages = [(found, parse_inbound(found.raw)) for found in ticket_messages(session, number)]
        entries = ticket_entries(session, number)
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
        _print_ticket_for_people(row, customer, order_rows, messages, entries, printer)
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
        Rows("entries", ENTRY_COLUMNS, [_entry_record(entry) for entry in entries]),
        meta={"ticket": {**_ticket_record(row, now), "customer": customer}},
    )


ENTRY_COLUMNS = (
    Column("created_at"),
    Column("kind"),
    Column("via"),
    Column("author"),
    Column("text"),
    Column("delivery"),
)


def _entry_record(entry: EntryRow) -> dict[str, Any]:
    return {
        "created_at": entry.created_at,
        "kind": entry.kind,
        "via": entry.via,
        "author": entry.author or None,
        "text": entry.body,
        "delivery": entry.delivery,
    }


def _print_ticket_for_people(
    row: TicketRow,
    customer: str,
    orders: Rows,
    messages: list[tuple[TicketMessage, InboundMessage]],
    entries: list[EntryRow],
    printer: TablePrinter,
) -> None:
    """The ticket, its customer's orders, then its messages and entries in time order."""
    out = Console(highlight=False)
    out.print(f"[bold]{row.reference}[/bold] {escape(row.subject or '(no subject)')}")
    out.print(f"state: {row.state}, opened {printer.shown(row.opened_at)}", markup=False)
    if row.closed_at is not None:
        out.print(f"closed {printer.shown(row.closed_at)}", markup=False)
    out.print(f"from: {customer}", markup=False)
    printer.print(orders)
    items: list[tuple[datetime, str, str | None, str]] = [
        (
            message.received_at,
            message.from_address or parsed.from_header,
            message.subject or parsed.subject,
            parsed.body_text.strip(),
        )
        for message, parsed in messages
    ]
    items += [(entry.created_at, _entry_heading(entry), None, entry.body) for entry in entries]
    for moment, heading, subject, text in sorted(items, key=lambda item: item[0]):
        out.rule(Text(f"{printer.shown(moment)}  {heading}"))
        if subject is not None:
            out.print(f"Subject: {subject}", markup=False)
        if text:
            cut = len(text) > _EXCERPT
            out.print(text[:_EXCERPT] + (" [...]" if cut else ""), markup=False)


_ENTRY_WORDS = {"reply": "answered", "note": "note", "assign": "assigned to"}


def _entry_heading(entry: EntryRow) -> str:
    who = entry.author or "the command line"
    what = _ENTRY_WORDS.get(entry.kind, entry.kind)
    via = {"email": " by e-mail", "cli": " from the command line"}.get(entry.via, "")
    delivery = f" ({entry.delivery})" if entry.delivery else ""
    return f"{who}: {what}{via}{delivery}"


def _customer_line(session: Session, row: TicketRow) -> str:
    if row.customer_id is None:
        return f"{row.address} (not a customer)"
    found = customer_summary(session, row.customer_id)
    if found is None:
        return row.address
    return f"{found.label}, customer #{found.id}, {found.orders_count} order(s)"


def _missing(number: int) -> str:
    return f"there is no ticket T-{number}; `mailengine tickets` lists them"
