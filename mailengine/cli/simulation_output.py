"""What `simulate` prints: the trigger, the mails with their subjects, and why nothing came.

Times are shown in the customer's zone (quiet hours and yearly triggers are theirs); each
mail's subject is rendered for the customer as they are now. The phrases themselves are
`engine.simulation_words`', shared with the studio.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from mailengine.engine.simulation import SimulatedMail, Simulation
from mailengine.engine.simulation_words import (
    exit_line,
    miss_span,
    moment,
    rendered_subject,
    trigger_line,
)
from mailengine.outbound import Composer
from mailengine.store.recipients import RecipientSnapshot
from mailengine.workflows.model import Workflow

__all__ = ["exit_line", "print_simulation", "trigger_line"]

Echo = Callable[[str], None]


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
            echo(f"  {miss_span(miss, zone)}: {'; '.join(miss.reasons)}")
    if result.other_mails and result.mails:
        echo("other marketing mail they would get, counted by the frequency cap:")
        for mail in result.other_mails:
            echo(f"  {moment(mail.at, zone)}  {mail.workflow} send {mail.number}  {mail.template}")
    if result.truncated:
        echo(f"  (only the first {result.occurrences} fires of the trigger were simulated)")
    if result.decisions:
        echo("decisions:")
        for at, decision in result.decisions:
            echo(f"  {moment(at, zone)}  {decision}")
    echo(f"after {days} days: {result.outcome}")


def _mail_line(
    mail: SimulatedMail, composer: Composer, recipient: RecipientSnapshot, zone: ZoneInfo
) -> str:
    subject, _ = rendered_subject(mail, composer, recipient)
    held = "  [held out: the control group gets nothing]" if mail.held_out else ""
    return (
        f"  {mail.at.astimezone(zone):%Y-%m-%d %H:%M}  send {mail.number} (step {mail.step_id})"
        f"  {mail.template:<26} {subject}{held}"
    )
