"""Commands for workflows: `validate` the files and their templates, show an `audience`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from babel.numbers import get_currency_precision
from rich.console import Console
from sqlalchemy.engine import make_url

from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.validation import broadcast_sends, validate_broadcasts
from mailengine.cli.broadcast_validation import files_of_broadcast, split_targets, try_broadcasts
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, OutputFormat, Rows, TablePrinter, format_option
from mailengine.cli.trial_output import print_failures
from mailengine.config import Settings
from mailengine.engine.render_trials import TIME_BUDGET, RenderTrials
from mailengine.errors import SourceError, StoreError
from mailengine.polls.loader import load_polls
from mailengine.render.library import TemplateLibrary
from mailengine.store.audience_queries import audience_sql, count_audience, sample_audience
from mailengine.store.database import Database, normalize_url
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.copy_warnings import copy_warnings
from mailengine.workflows.loader import WorkflowSet, load_workflows
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow
from mailengine.workflows.problems import Problem
from mailengine.workflows.validation import files_of, validate_workflows, workflow_sends


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--no-render",
    is_flag=True,
    help="Only check the files; do not render each send step for sample customers.",
)
@pass_context
def validate(state: CliContext, paths: tuple[Path, ...], no_render: bool) -> None:
    """Check workflow and broadcast files (default: both folders) and the templates they
    send, then render each mail for sample customers (from the database too, if there is one)."""
    if run_validate(state.settings, list(paths), now=state.clock.now(), render=not no_render):
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


def run_validate(
    settings: Settings,
    paths: list[Path],
    console: Console | None = None,
    *,
    now: datetime,
    render: bool = True,
    broadcasts: bool = True,
) -> int:
    """Print every problem as `path:line:col: message` and a summary; 1 if any, else 0.

    With `render`, each send step of the workflows without problems (and each variant of
    the broadcasts without problems) is then rendered for sample customers (see
    `render_trials`); a mail that fails for some counts as a problem. Paths in the
    broadcasts folder are broadcast files; no paths: both folders (`broadcasts` False:
    workflows only, as `reload` checks them).
    """
    out = console or Console(highlight=False, soft_wrap=True)
    folder = settings.paths.broadcasts if broadcasts else None
    targets, broadcast_targets = split_targets(paths, settings.paths.workflows, folder)
    library = TemplateLibrary(settings.paths.templates, shop_locale=settings.locale)
    result = (
        validate_workflows(targets, settings.paths.templates, Path.cwd(), library)
        if targets
        else WorkflowSet()
    )
    sent = validate_broadcasts(broadcast_targets, library, Path.cwd())
    catalogs = [Problem(found.location, found.message) for found in library.catalog_problems()]
    # Without paths, the poll and questionnaire files are checked too.
    folders = () if paths else ([settings.paths.polls], [settings.paths.questionnaires])
    asked = load_polls(*folders, display_base=Path.cwd()).problems if folders else []
    problems = [*result.problems, *sent.problems, *asked, *catalogs]
    for problem in problems:
        out.print(str(problem), markup=False)
    sends = [each for w in result.workflows.values() for each in workflow_sends(w)]
    sends += [each for b in sent.broadcasts.values() for each in broadcast_sends(b)]
    warnings = copy_warnings(sends, library)
    for warning in warnings:
        out.print(f"{warning.location}: warning: {warning.message}", markup=False)
    count = len(problems)
    files = {problem.location.path for problem in problems}
    summaries: list[str] = []
    if render:
        clean = [w for w in result.workflows.values() if not files_of(w, library) & files]
        clean_broadcasts = [
            b for b in sent.broadcasts.values() if not files_of_broadcast(b, library) & files
        ]
        failed, summaries = _render_trials(settings, library, clean, clean_broadcasts, now, out)
        count += len(failed)
        files.update(failed)
    shown_broadcasts = bool(sent.broadcasts or sent.problems or (paths and broadcast_targets))
    if warnings:
        shown = len({warning.location.path for warning in warnings})
        out.print(
            f"{len(warnings)} warning(s) in {shown} file(s) (they do not stop sending)",
            markup=False,
        )
    if count:
        loaded = [f"{len(result.workflows)} workflow(s) loaded"] if targets else []
        if shown_broadcasts:
            loaded.append(f"{len(sent.broadcasts)} broadcast(s) loaded")
        out.print(
            f"{count} problem(s) in {len(files)} file(s); {', '.join(loaded)}",
            markup=False,
        )
        return 1
    if targets:
        out.print(f"{len(result.workflows)} workflow(s) OK: {', '.join(sorted(result.workflows))}")
    if shown_broadcasts:
        out.print(f"{len(sent.broadcasts)} broadcast(s) OK: {', '.join(sorted(sent.broadcasts))}")
    for summary in summaries:
        out.print(summary, markup=False)
    return 0


def _render_trials(
    settings: Settings,
    library: TemplateLibrary,
    workflows: list[Workflow],
    broadcasts: list[Broadcast],
    now: datetime,
    out: Console,
) -> tuple[list[str], list[str]]:
    """Render the workflows' send steps and the broadcasts' variants for sample customers;
    (the file of each failed mail, summary lines)."""
    database, why_not = reachable_database(settings)
    try:
        trials = RenderTrials(settings, library, now, database)
        failed: list[str] = []
        steps = renders = 0
        for workflow in workflows:
            for trial in trials.run(workflow):
                steps += 1
                renders += trial.tried
                if trial.failures:
                    failed.append(workflow.path)
                    label = f"send {trial.number} ({trial.step.template})"
                    print_failures(trial.step.location, label, trial, out)
        broken, variants, variant_renders = try_broadcasts(trials, broadcasts, out)
        failed.extend(broken)
    finally:
        if database is not None:
            database.dispose()
    source = (
        f"up to {trials.sample_size} customers of each audience in the database"
        if database is not None
        else f"no customers from the database ({why_not})"
    )
    samples = f"{source} and {trials.sample_size} built-in sample customers"
    summaries = []
    if workflows or not broadcasts:
        summaries.append(f"rendered {steps} send step(s) {renders} times: {samples}")
    if broadcasts:
        summaries.append(
            f"rendered {variants} broadcast variant(s) {variant_renders} times: {samples}"
        )
    if trials.out_of_time:
        summaries[-1] += f" (stopped after {TIME_BUDGET:g} s)"
    return failed, summaries


def reachable_database(settings: Settings) -> tuple[Database | None, str]:
    """The configured database if it exists and is at the current schema, else why not.
    A SQLite file that is not there is not created."""
    url = make_url(normalize_url(settings.database.url))
    if url.get_backend_name() == "sqlite":
        name = url.database
        if not name or name == ":memory:" or not Path(name).is_file():
            return None, f"no database file at {name or 'memory'}"
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": "5"})  # validate never hangs on it
    database = Database(url.render_as_string(hide_password=False))
    try:
        database.check_schema()
    except StoreError as error:
        database.dispose()
        return None, error.message
    return database, ""


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
    kind = (
        "transactional: unsubscribed too, not bounced, complained or forgotten"
        if workflow.transactional
        else "consent, not suppressed"
    )
    if isinstance(trigger, ScheduleTrigger):
        return f"{kind}; selected at every '{trigger.cron}'"
    if isinstance(trigger, EventTrigger):
        return f"{kind}; enrolled when {trigger.event} arrives"
    return f"{kind}; enrolled on their {trigger.on.replace('_', ' ')} at {trigger.at:%H:%M}"
