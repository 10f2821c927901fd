"""A simulation in words: its trigger, the exit goals it cannot simulate, each mail's subject.

Shared by `mailengine simulate` and the studio's simulation page, so both say the same.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailengine.engine.simulation import Miss, SimulatedMail, Simulation
from mailengine.errors import RenderError, SourceError
from mailengine.outbound import Composer
from mailengine.store.recipients import RecipientSnapshot
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow


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


def rendered_subject(
    mail: SimulatedMail, composer: Composer, recipient: RecipientSnapshot
) -> tuple[str, bool]:
    """The mail's subject for the customer as they are now, and whether it rendered (when it
    fails, the text says why)."""
    try:
        context = composer.context(recipient, mail.at)
        rendered = composer.library.render(
            mail.template, context, subject=mail.subject, preheader=mail.preheader
        )
    except (RenderError, SourceError) as error:
        return f"(fails for this customer: {error})", False
    return rendered.subject, True


def miss_span(miss: Miss, zone: ZoneInfo) -> str:
    """When a run of trigger occurrences missed the customer: one moment, or first to last."""
    first = moment(miss.first, zone)
    if miss.count == 1:
        return first
    return f"{first} to {moment(miss.last, zone)} ({miss.count} times, as at the first)"


def moment(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M}"


def _words(name: str) -> str:
    return name.replace("_", " ")
