"""Commands of the studio: `studio` serves it without sending anything; `user ...` manages who
may log in."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from mailengine.cli.context import CliContext, configure_logging, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.cli.ticket_commands import minutes
from mailengine.cli.web_app import build_web_app
from mailengine.errors import MailengineError
from mailengine.studio import ROLES, studio_enabled
from mailengine.studio.accounts import (
    account_exists,
    accounts,
    change_password,
    create_account,
    delete_account,
)
from mailengine.studio.enabling import HOW_TO_TURN_ON
from mailengine.studio.passwords import MIN_LENGTH, generate_password
from mailengine.web.server import serve

USER_COLUMNS = (
    Column("email"),
    Column("role"),
    Column("created_at", "created", show=minutes),
    Column("password_changed_at", "password changed", show=minutes),
)


@click.command("studio")
@click.option("--port", type=click.IntRange(0, 65535), help="Instead of http.port.")
@pass_context
def studio(state: CliContext, port: int | None) -> None:
    """Serve the studio (and the HTTP API) alone: no mail is sent, no schedule fires.

    For looking at workflows, templates and customers on a laptop; events and customers
    posted to the API wait in the database for `mailengine run`."""
    configure_logging()
    settings = state.settings
    database = state.ready_database()
    if not studio_enabled(settings, database):
        raise MailengineError(f"the studio is off: {HOW_TO_TURN_ON}")
    web = build_web_app(settings, database, state.clock, sends_mail=False)
    http = settings.http
    listen = http.port if port is None else port

    def started(bound: int) -> None:
        click.echo(f"studio (sends nothing) on http://{http.host}:{bound}/studio/")
        if http.public_url.rstrip("/") != f"http://{http.host}:{bound}":
            click.echo(f"  as the public URL names it: {web.studio_url}")
        click.echo("stop with Ctrl-C")

    async def serving() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(
            web.app, http.host, listen, stop, on_started=started,
            trusted_proxies=http.trusted_proxies,
        )  # fmt: skip

    asyncio.run(serving())


@click.group("user")
def user() -> None:
    """Studio accounts: who may log in, with which role (admin, marketer, support)."""


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate-password", is_flag=True, help="Make one and print it, once.")
@click.option("--if-missing", is_flag=True, help="Do nothing if the address has an account.")
@pass_context
def user_add(
    state: CliContext,
    email: str,
    role: str,
    password_stdin: bool,
    generate_password: bool,
    if_missing: bool,
) -> None:
    """Give EMAIL an account; the password is asked for twice (it is stored as an Argon2id
    hash, never as itself)."""
    database = state.ready_database()
    if if_missing and account_exists(database, email):
        address = email.strip().lower()
        click.echo(
            f"{address} has an account already; nothing changed "
            f"(`mailengine user password {address} --generate-password` sets a new password)"
        )
        return
    if password_stdin and generate_password:
        raise click.UsageError("give --password-stdin or --generate-password, not both")
    password = _new_password(password_stdin, generate_password)
    first = not accounts(database)
    made = create_account(database, email, role, password, state.clock.now())
    click.echo(f"added {made.email} ({made.role})")
    if generate_password:
        click.echo(f"password: {password}")
        click.echo("  (shown only now; `mailengine user password EMAIL` sets another)")
    if first and not state.settings.studio.enabled:
        click.echo(
            "the studio is on from the next start of `mailengine run` or `mailengine studio`"
        )


@user.command("list")
@format_option
@pass_context
def user_list(state: CliContext, output_format: OutputFormat) -> None:
    """Every account with its role."""
    found = accounts(state.ready_database())
    records = [
        {
            "email": item.email,
            "role": item.role,
            "created_at": item.created_at,
            "password_changed_at": item.password_changed_at,
        }
        for item in found
    ]
    printer = TablePrinter(output_format, state.settings.zone)
    printer.print(Rows("users", USER_COLUMNS, records, title="Studio accounts", empty="none yet"))


@user.command("remove")
@click.argument("email")
@pass_context
def user_remove(state: CliContext, email: str) -> None:
    """Remove the account of EMAIL; its sessions end at once."""
    delete_account(state.ready_database(), email)
    click.echo(f"removed {email.strip().lower()}; its sessions have ended")


@user.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate-password", is_flag=True, help="Make one and print it, once.")
@pass_context
def user_password(
    state: CliContext, email: str, password_stdin: bool, generate_password: bool
) -> None:
    """Set a new password for EMAIL; every session of the account ends."""
    if password_stdin and generate_password:
        raise click.UsageError("give --password-stdin or --generate-password, not both")
    database = state.ready_database()
    if not account_exists(database, email):
        raise MailengineError(f"no studio account has the address {email.strip().lower()}")
    password = _new_password(password_stdin, generate_password)
    change_password(database, email, password, state.clock.now())
    click.echo(f"new password set for {email.strip().lower()}; its sessions have ended")
    if generate_password:
        click.echo(f"password: {password}")


def _new_password(from_stdin: bool, generate: bool) -> str:
    """Generated, the first line of standard input, or typed twice at a hidden prompt
    (click reads it with getpass)."""
    if generate:
        return generate_password()
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise MailengineError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    typed: str = click.prompt(
        f"Password (at least {MIN_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt="Repeat the password",
    )
    return typed
