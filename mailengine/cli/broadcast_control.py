"""`mailengine broadcast schedule | pause | resume | cancel`: start and steer a broadcast.

Scheduling checks the file as `validate` does (its templates compile and render for a
sample of its audience) and stores it as it is now; the running engine plans it when its
time comes. Pause, resume and cancel act at once on the stored broadcast and its mail.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from mailengine.broadcasts.model import Broadcast, LocalTime
from mailengine.broadcasts.schedule import local_span
from mailengine.broadcasts.timing import shown
from mailengine.cli.broadcast_commands import find_broadcast
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.trial_output import print_failures
from mailengine.engine.broadcast_checks import BroadcastCheck
from mailengine.engine.broadcast_scheduling import schedule_file
from mailengine.engine.broadcast_sources import read_stored
from mailengine.store import broadcast_runs as runs


@click.command("schedule")
@click.argument("name")
@click.option("--now", "at_once", is_flag=True, help="Send now although send_at has passed.")
@pass_context
def schedule_command(state: CliContext, name: str, at_once: bool) -> None:
    """Check broadcast NAME and schedule it as its file is now; the running engine plans it
    five minutes before send_at. A name is sent once: scheduling it again changes it only
    until planning begins."""
    settings = state.settings
    database = state.ready_database()
    now = state.clock.now()
    found = find_broadcast(settings, name)
    source = Path(found.path).read_text(encoding="utf-8")
    done = schedule_file(settings, database, found, now, source=source, at_once=at_once, by="cli")
    _report_check(found, done.check)
    when = done.when
    assert when is not None
    if when.passed:
        raise click.ClickException(
            f"{found.name}: {when.passed_words(settings.zone)}; set a new send_at, or schedule "
            "it with --now to send it at once"
        )
    assert done.stored is not None
    if done.stored.outcome == "refused":
        raise click.ClickException(done.stored.reason)
    words = {
        "created": "scheduled",
        "updated": "rescheduled with the file as it is now",
        "unchanged": "already scheduled as it is",
    }[done.stored.outcome]
    click.echo(f"{found.name}: {words}; planning starts {shown(when.plan_at, settings.zone)}")
    if isinstance(found.send_at, LocalTime):
        last = local_span(found.send_at)[1]
        click.echo(f"mail goes at {found.send_at.at:%H:%M} in each customer's zone, until "
                   f"{shown(last, settings.zone)}")  # fmt: skip
    else:
        click.echo(f"mail goes from {shown(max(when.first_send, now), settings.zone)}")


@click.command("pause")
@click.argument("name")
@pass_context
def pause_command(state: CliContext, name: str) -> None:
    """Stop broadcast NAME: planning stops and planned mail that has not left is held.
    Messages the running engine has already taken for sending (the batch it is sending and
    the one it composed ahead) still go."""
    database = state.ready_database()
    with database.transaction() as session:
        moved = runs.pause(session, name, state.clock.now())
    _refused(moved)
    click.echo(f"{name}: paused; {moved.messages} message(s) held")


@click.command("resume")
@click.argument("name")
@pass_context
def resume_command(state: CliContext, name: str) -> None:
    """Go on with paused broadcast NAME: held mail is released (a throttled broadcast's mail
    is moved later by the length of the pause, to keep its pace) and planning goes on."""
    database = state.ready_database()
    with database.session() as session:
        run = runs.load(session, name)
    throttled = run is not None and read_stored(run).throttle is not None
    with database.transaction() as session:
        moved = runs.resume(session, name, state.clock.now(), shift=throttled)
    _refused(moved)
    click.echo(f"{name}: resumed; {moved.messages} message(s) released")


@click.command("cancel")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def cancel_command(state: CliContext, name: str, yes: bool) -> None:
    """Cancel broadcast NAME for good: mail that has not left is dropped, and the name
    cannot be scheduled again."""
    if not yes:
        click.confirm(f"Cancel {name} for good? Mail not yet sent is dropped", abort=True)
    database = state.ready_database()
    with database.transaction() as session:
        moved = runs.cancel(session, name, state.clock.now())
    _refused(moved)
    click.echo(f"{name}: cancelled; {moved.messages} message(s) dropped")


def _report_check(found: Broadcast, checked: BroadcastCheck) -> None:
    """Refuse a broadcast `validate` would fail: its templates, and renders for a sample."""
    for problem in checked.problems:
        click.echo(str(problem), err=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for trial in checked.failures:
        print_failures(trial.variant.location, trial.label, trial, errors)
    if not checked.ok:
        raise click.ClickException(f"{found.name} is not scheduled: fix the problems above")


def _refused(moved: runs.Moved) -> None:
    if not moved.applied:
        raise click.ClickException(moved.reason)
