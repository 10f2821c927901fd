"""Run commands the way `mailengine` does (the web-side ones and `status`), over a test
database and clock."""

from __future__ import annotations

from collections.abc import Sequence

import click
from click.testing import CliRunner, Result

from mailengine.cli.context import CliContext
from mailengine.cli.status_command import status
from mailengine.cli.web_commands import api_key, customer, report
from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.errors import MailengineError
from mailengine.store.database import Database


def run(
    settings: Settings, database: Database, clock: Clock, args: Sequence[str], stdin: str = ""
) -> Result:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = CliContext(config_path=None, clock=clock, _settings=settings, _database=database)

    root.add_command(report)
    root.add_command(customer)
    root.add_command(api_key)
    root.add_command(status)
    result = CliRunner().invoke(root, list(args), input=stdin, env={"COLUMNS": "160"})
    if isinstance(result.exception, MailengineError):
        result.exit_code = 1  # what `mailengine`'s main() turns these into
    return result
