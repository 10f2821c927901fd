"""`mailengine broadcast`: list the broadcast files, show one resolved, send its test mail."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from mailengine.broadcasts.loader import BroadcastSet, load_broadcasts
from mailengine.broadcasts.model import Broadcast
from mailengine.cli.broadcast_show import (
    NOT_SCHEDULED,
    Audience,
    audience_words,
    facts,
    variant_rows,
    variants_words,
    when,
)
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.cli.workflow_commands import audience_context, reachable_database
from mailengine.config import Settings
from mailengine.engine.broadcast_test_mail import queue_test_mail
from mailengine.errors import SourceError
from mailengine.outbound import Composer
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.audience_queries import count_condition
from mailengine.store.broadcast_runs import stored_states

UNKNOWN_STATE = "–"


@click.group()
def broadcast() -> None:
    """One-off mail to an audience (broadcasts/NAME.yaml): list, show and test them."""


@broadcast.command("list")
@format_option
@pass_context
def broadcast_list(state: CliContext, output_format: OutputFormat) -> None:
    """Every broadcast file: when it goes, to whom, its variants and its state."""
    settings = state.settings
    folder = settings.paths.broadcasts
    loaded = load_broadcasts([folder], Path.cwd())
    states, _ = _states(settings)
    rows = [
        {
            "name": item.name,
            "file": item.path,
            "when": when(item, settings.zone),
            "audience": audience_words(item),
            "variants": variants_words(item),
            "state": states.get(item.name, NOT_SCHEDULED) if states is not None else None,
        }
        for item in sorted(loaded.broadcasts.values(), key=lambda found: found.name)
    ]
    columns = [
        Column("name"),
        Column("file"),
        Column("when"),
        Column("audience", wrap=True),
        Column("variants", wrap=True),
        Column("state"),
    ]
    printer = TablePrinter(output_format, settings.zone)
    printer.print(
        Rows("broadcasts", columns, rows, empty=f"no broadcasts in {folder}"),
        meta={"folder": str(folder)},
    )
    _report_problems(loaded)


@broadcast.command("show")
@click.argument("name")
@format_option
@pass_context
def broadcast_show(state: CliContext, name: str, output_format: OutputFormat) -> None:
    """Everything about broadcast NAME (a name or a file), resolved: when it goes (in the
    shop's zone, UTC, or each customer's), its audience now, variants, winner and pace."""
    settings = state.settings
    found = find_broadcast(settings, name)
    states, audience = _states(settings, found, state.clock.now())
    shown = states.get(found.name, NOT_SCHEDULED) if states is not None else UNKNOWN_STATE
    printer = TablePrinter(output_format, settings.zone)
    printer.print(
        facts(found, settings.zone, state.clock.now(), audience, shown, settings.currency),
        variant_rows(found, audience),
    )


@broadcast.command("test")
@click.argument("name")
@click.option(
    "--to", "addresses", multiple=True, required=True, help="An address to send to (repeatable)."
)
@click.option(
    "--customer", "email", help="Render for this customer [default: a built-in sample customer]."
)
@pass_context
def broadcast_test(
    state: CliContext, name: str, addresses: tuple[str, ...], email: str | None
) -> None:
    """Send each variant of NAME to the --to addresses now, subject "[Test] ...": rendered
    for a sample customer (or --customer), never counted as the broadcast's mail."""
    settings = state.settings
    database = state.ready_database()
    found = find_broadcast(settings, name)
    library = TemplateLibrary(settings.paths.templates, shop_locale=settings.locale)
    composer = Composer(settings, library, secret_key(settings))
    queued = queue_test_mail(composer, database, found, addresses, state.clock.now(), email)
    for item in queued:
        click.echo(f"queued variant {item.variant} to {item.address}: {item.subject}")
    customer = queued[0].customer if queued else "nobody"
    click.echo(
        f"{len(queued)} test message(s) of {found.name}, rendered for {customer}: the running "
        "engine sends them (or `mailengine run --once`)"
    )


def find_broadcast(settings: Settings, name_or_path: str) -> Broadcast:
    """A broadcast by file path, or by name among the broadcasts folder's files; its file's
    problems (all of them) when it is wrong."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = load_broadcasts([path], Path.cwd())
        loaded.raise_for_problems()
        return next(iter(loaded.broadcasts.values()))
    loaded = load_broadcasts([settings.paths.broadcasts], Path.cwd())
    found = loaded.broadcasts.get(name_or_path)
    if found is not None:
        return found
    loaded.raise_for_problems()
    known = ", ".join(sorted(loaded.broadcasts)) or "none"
    raise SourceError(
        f"no broadcast named '{name_or_path}' in {settings.paths.broadcasts} (known: {known})"
    )


def _states(
    settings: Settings, found: Broadcast | None = None, now: datetime | None = None
) -> tuple[dict[str, str] | None, Audience]:
    """The stored states (None without a database), and the audience of `found` now."""
    database, why_not = reachable_database(settings)
    if database is None:
        return None, Audience(None, f"not counted: {why_not}")
    try:
        with database.session() as session:
            states = stored_states(session)
            if found is None or now is None:
                return states, Audience(None)
            count = count_condition(
                session, found.audience, audience_context(settings, now), transactional=False
            )
    finally:
        database.dispose()
    return states, Audience(count)


def _report_problems(loaded: BroadcastSet) -> None:
    """The problems of the files that did not load, on stderr; exit 1 when there are any."""
    for problem in loaded.problems:
        click.echo(str(problem), err=True)
    if loaded.problems:
        raise click.exceptions.Exit(1)
