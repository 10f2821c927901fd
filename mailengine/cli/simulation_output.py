"""What `simulate` prints: the trigger, the mails with their subjects, and why nothing came.

Times are shown in the customer's zone (quiet hours and yearly triggers are theirs); each
mail's subject is rendered for the customer as they are now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from mailengine.engine.simulation import Miss, SimulatedMail, Simulation
from mailengine.errors import RenderError, SourceError
from mailengine.outbound import Composer
from mailengine.store.recipients import RecipientSnapshot
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow

Echo = Callable[[str], None]


def trigger_line(workflow: Workflow, result: Simulation, shop: ZoneInfo, zone: ZoneInfo) -> str:
    trigger = workflow.trigger
    first = (
        f"{result.first_occurrence.astimezone(zone):%Y-%m-%d %H:%M}"
        if result.first_occurrence
        else "none in this time"
    )
    if isinstance(trigger, ScheduleTrigger):
        return (
            f"trigger: schedule '{trigger.cron}' in {shop.key}; {result.occurrences} fire(s), "
            f"the first {first}"
        )
    if isinstance(trigger, EventTrigger):
        where = " (its data as the trigger's where: wants)" if trigger.where else ""
        return f"trigger: when {trigger.event} arrives{where}, simulated as arriving at {first}"
    if result.no_date:
        return f"trigger: yearly on their {_words(trigger.on)}: they have none, it never fires"
    return (
        f"trigger: yearly on their {_words(trigger.on)} at {trigger.at:%H:%M} their time; "
        f"next {first}"
    )


def exit_line(workflow: Workflow) -> str | None:
    """The exit goals that wait for an event: no event arrives in a simulation."""
    events = sorted({goal.event for goal in workflow.exit_when if goal.event})
    if not events:
        return None
    return f"leaves when {' or '.join(events)} arrives (no such event is simulated)"


def print_simulation(
    echo: Echo,
    workflow: Workflow,
    result: Simulation,
    composer: Composer,
    recipient: RecipientSnapshot,
    zone: ZoneInfo,
    days: int,
) -> None:
    for mail in result.mails:
        echo(_mail_line(mail, composer, recipient, zone))
    if not result.mails:
        echo("  no mail")
    if result.misses:
        echo("not enrolled:" if result.mails else "why:")
        for miss in result.misses:
            echo(f"  {_span(miss, zone)}: {'; '.join(miss.reasons)}")
    if result.other_mails and result.mails:
        echo("other marketing mail they would get, counted by the frequency cap:")
        for mail in result.other_mails:
            echo(f"  {_moment(mail.at, zone)}  {mail.workflow} send {mail.number}  {mail.template}")
    if result.truncated:
        echo(f"  (only the first {result.occurrences} fires of the trigger were simulated)")
    if result.decisions:
        echo("decisions:")
        for moment, decision in result.decisions:
            echo(f"  {moment.astimezone(zone):%Y-%m-%d %H:%M}  {decision}")
    echo(f"after {days} days: {result.outcome}")


def _mail_line(
    mail: SimulatedMail, composer: Composer, recipient: RecipientSnapshot, zone: ZoneInfo
) -> str:
    try:
        context = composer.context(recipient, mail.at)
        subject = composer.library.render(
            mail.template, context, subject=mail.subject, preheader=mail.preheader
        ).subject
    except (RenderError, SourceError) as error:
        subject = f"(fails for this customer: {error})"
    held = "  [held out: the control group gets nothing]" if mail.held_out else ""
    return (
        f"  {mail.at.astimezone(zone):%Y-%m-%d %H:%M}  send {mail.number} (step {mail.step_id})"
        f"  {mail.template:<26} {subject}{held}"
    )


def _span(miss: Miss, zone: ZoneInfo) -> str:
    first = _moment(miss.first, zone)
    if miss.count == 1:
        return first
    return f"{first} to {_moment(miss.last, zone)} ({miss.count} times, as at the first)"


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _words(name: str) -> str:
    return name.replace("_", " ")
