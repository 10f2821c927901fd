"""Entry point of the `mailengine` command: options every command shares, and error handling."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailengine import __version__
from mailengine.cli.broadcast_commands import broadcast
from mailengine.cli.broadcast_control import (
    cancel_command,
    pause_command,
    resume_command,
    schedule_command,
)
from mailengine.cli.broadcast_report_command import report_command
from mailengine.cli.context import CliContext
from mailengine.cli.coupon_commands import coupon
from mailengine.cli.data_commands import db, demo_data, import_group
from mailengine.cli.dkim_command import dkim_command
from mailengine.cli.engine_commands import event, preview, reload, run, simulate_command
from mailengine.cli.poll_commands import polls
from mailengine.cli.predict_command import predict
from mailengine.cli.status_command import status
from mailengine.cli.studio_commands import studio, user
from mailengine.cli.ticket_commands import ticket, tickets
from mailengine.cli.translation_commands import translations
from mailengine.cli.web_commands import api_key, customer, report
from mailengine.cli.workflow_commands import audience, validate
from mailengine.clock import Clock, SystemClock
from mailengine.errors import MailengineError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailengine")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Settings file [default: $MAILENGINE_CONFIG or ./config.yaml].",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """mailengine: email marketing automation for a shop's single customer view."""
    state = CliContext(config_path=config_path, clock=ctx.obj or SystemClock())
    ctx.obj = state
    ctx.call_on_close(state.close)


cli.add_command(db)
cli.add_command(import_group)
cli.add_command(demo_data)
cli.add_command(status)
cli.add_command(validate)
cli.add_command(audience)
cli.add_command(broadcast)
for command in (schedule_command, pause_command, resume_command, cancel_command, report_command):
    broadcast.add_command(command)
for command in (
    run,
    event,
    reload,
    simulate_command,
    preview,
    predict,
    coupon,
    report,
    customer,
    api_key,
    tickets,
    ticket,
    studio,
    user,
    translations,
    polls,
    dkim_command,
):
    cli.add_command(command)


def main(argv: list[str] | None = None, clock: Clock | None = None) -> None:
    """Run the CLI: 0 ok, 1 a user error (a clear message, no traceback), 2 usage.

    `clock` (the system's by default) tells every command the time: tests pass a frozen one.
    """
    try:
        # Outside standalone mode click returns the code of a `ctx.exit(code)` instead.
        code = cli.main(args=argv, prog_name="mailengine", standalone_mode=False, obj=clock)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except MailengineError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
