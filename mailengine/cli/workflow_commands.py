"""Commands for workflows: `validate` the files and their templates, show an `audience`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from babel.numbers import get_currency_precision
from rich.console import Console

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.config import Settings
from mailengine.errors import SourceError
from mailengine.store.audience_queries import audience_sql, count_audience, sample_audience
from mailengine.store.database import Database
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow
from mailengine.workflows.validation import validate_workflows


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@pass_context
def validate(state: CliContext, paths: tuple[Path, ...]) -> None:
    """Check workflow files (default: the workflows folder) and the templates they send."""
    if run_validate(state.settings, list(paths)) != 0:
        raise click.exceptions.Exit(1)


@click.command("audience")
@click.argument("workflow")
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--sql", "show_sql", is_flag=True, help="Print the compiled query too.")
@format_option
@pass_context
def audience(
    state: CliContext, workflow: str, limit: int, show_sql: bool, output_format: OutputFormat
) -> None:
    """How many customers WORKFLOW (a name or a file) selects right now, and a sample."""
    printer = TablePrinter(output_format, state.settings.zone)
    run_audience(
        state.settings,
        state.ready_database(),
        state.clock.now(),
        workflow,
        limit,
        show_sql,
        printer,
    )


def run_validate(settings: Settings, paths: list[Path], console: Console | None = None) -> int:
    """Print every problem as `path:line:col: message` and a summary; 1 if any, else 0."""
    out = console or Console(highlight=False, soft_wrap=True)
    targets = paths or [settings.paths.workflows]
    result = validate_workflows(targets, settings.paths.templates, Path.cwd())
    for problem in result.problems:
        out.print(str(problem), markup=False)
    files = sorted({problem.location.path for problem in result.problems})
    if result.problems:
        out.print(
            f"{len(result.problems)} problem(s) in {len(files)} file(s); "
            f"{len(result.workflows)} workflow(s) loaded",
            markup=False,
        )
        return 1
    out.print(f"{len(result.workflows)} workflow(s) OK: {', '.join(sorted(result.workflows))}")
    return 0


def run_audience(
    settings: Settings,
    database: Database,
    now: datetime,
    name_or_path: str,
    limit: int = 20,
    show_sql: bool = False,
    printer: TablePrinter | None = None,
) -> int:
    """Print the audience's size at `now`, a sample table and (with show_sql) the query."""
    out = printer or TablePrinter("table", settings.zone)
    workflow = find_workflow(settings, name_or_path)
    context = audience_context(settings, now)
    sql = audience_sql(workflow, context, database.engine) if show_sql else None
    if sql is not None:
        out.note(sql)
    with database.session() as session:
        count = count_audience(session, workflow, context)
        rows = sample_audience(session, workflow, context, limit) if limit else []
    out.note(f"{workflow.name}: {count:,} customers match now ({_when(workflow)})")
    sample = [
        {
            "id": row.customer_id,
            "email": row.email,
            "name": " ".join(part for part in (row.first_name, row.last_name) if part),
            "locale": row.locale,
            "timezone": row.timezone,
        }
        for row in rows
    ]
    columns = [Column(key) for key in ("id", "email", "name", "locale")] + [
        Column("timezone", "time zone")
    ]
    meta = {"workflow": workflow.name, "customers": count, "selects": _when(workflow), "sql": sql}
    out.print(Rows("sample", columns, sample, empty=""), meta=meta)
    return count


def find_workflow(settings: Settings, name_or_path: str) -> Workflow:
    """A workflow by file path, or by name among the workflows folder's files."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = load_workflows([path], Path.cwd())
    else:
        loaded = load_workflows([settings.paths.workflows], Path.cwd())
    if loaded.problems:
        loaded.raise_for_problems()
    if path.is_file() and len(loaded.workflows) == 1:
        return next(iter(loaded.workflows.values()))
    found = loaded.workflows.get(name_or_path)
    if found is None:
        known = ", ".join(sorted(loaded.workflows)) or "none"
        raise SourceError(
            f"no workflow named '{name_or_path}' in {settings.paths.workflows} (known: {known})"
        )
    return found


def audience_context(settings: Settings, now: datetime) -> AudienceContext:
    return AudienceContext(
        now=now, zone=settings.zone, currency_exponent=get_currency_precision(settings.currency)
    )


def _when(workflow: Workflow) -> str:
    trigger = workflow.trigger
    kind = "transactional: not suppressed" if workflow.transactional else "consent, not suppressed"
    if isinstance(trigger, ScheduleTrigger):
        return f"{kind}; selected at every '{trigger.cron}'"
    if isinstance(trigger, EventTrigger):
        return f"{kind}; enrolled when {trigger.event} arrives"
    return f"{kind}; enrolled on their {trigger.on.replace('_', ' ')} at {trigger.at:%H:%M}"
