"""What the simulation page shows: `mailengine simulate` for one customer, as plain data.

The run is the CLI's (`engine.simulation.simulate` with the engine's runner, the open-ticket
hold as configured and the other workflows alongside); the phrases are
`engine.simulation_words`'. Times are in the customer's zone. Nothing is written or sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailengine.config import Settings
from mailengine.engine.facts import zone_of
from mailengine.engine.registry import WorkflowRegistry
from mailengine.engine.render_trials import guaranteed_by_trigger
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.simulation import SimulatedMail, Simulation, simulate
from mailengine.engine.simulation_words import exit_line, miss_span, rendered_subject, trigger_line
from mailengine.money import decimals
from mailengine.outbound import Composer
from mailengine.store.database import Database
from mailengine.store.enrollments import reentry_blocked
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.sample_customers import varied_sample
from mailengine.store.tickets import open_ticket_hold
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Workflow, YearlyTrigger

MAX_DAYS = 365


@dataclass(frozen=True)
class MailEvent:
    at: datetime  # in the customer's zone
    workflow: str
    number: int  # among the workflow's sends
    step_id: str
    template: str
    subject: str  # rendered for the customer, or why it fails
    renders: bool
    held_out: bool  # the control group: planned, never sent


@dataclass(frozen=True)
class MissEvent:
    first: datetime
    last: datetime
    count: int
    span: str  # "2026-11-23 09:00 to 2026-12-01 09:00 (9 times, as at the first)"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SimulationView:
    workflow: Workflow
    email: str
    zone: ZoneInfo
    start: datetime
    end: datetime
    days: int
    trigger: str
    leaving: str | None
    mails: list[MailEvent]
    others: list[MailEvent]  # other marketing workflows' mail, counted by the frequency cap
    misses: list[MissEvent]
    decisions: list[tuple[datetime, str]]
    outcome: str
    truncated: bool

    @property
    def sent(self) -> list[MailEvent]:
        """The mails that would really go out (not the control group's)."""
        return [mail for mail in self.mails if not mail.held_out]

    def why_nothing(self) -> list[str]:
        """Why the customer gets no mail from the workflow in this time; empty when they do."""
        if self.sent:
            return []
        reasons = [f"{miss.span}: {'; '.join(miss.reasons)}" for miss in self.misses]
        if self.mails:
            reasons.append("they are in the control group (holdout): nothing is sent to them")
        if not reasons and not self.decisions:
            reasons.append(f"the trigger does not enroll them in these {self.days} days")
        if not reasons:
            reasons.append(f"after {self.days} days they are {self.outcome}: see the decisions")
        return reasons


def simulate_customer(
    settings: Settings,
    database: Database,
    workflows: Iterable[Workflow],
    workflow: Workflow,
    customer_id: int,
    start: datetime,
    days: int,
    composer: Composer,
    secret: bytes,
) -> SimulationView:
    """`days` (1 to 365) from `start` for this customer; `workflows` are all those in force;
    `secret` keys Message-IDs as the engine's runner does (nothing is planned for real)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: simulate 1 to {MAX_DAYS} days, not {days}")
    registry = WorkflowRegistry(database, settings.paths.workflows)
    runner = WorkflowRunner(database, registry, settings, secret=secret)
    hold = open_ticket_hold if settings.engine.hold_marketing_during_open_ticket else None
    result = simulate(database, runner, workflow, customer_id, start, days, hold, workflows)
    with database.session() as session:
        recipient = load_recipients(session, [customer_id])[customer_id]
    zone = zone_of(recipient.profile.get("timezone"), runner.zone)
    return SimulationView(
        workflow=workflow,
        email=recipient.email,
        zone=zone,
        start=start.astimezone(zone),
        end=(start + timedelta(days=days)).astimezone(zone),
        days=days,
        trigger=trigger_line(workflow, result, runner.zone, zone),
        leaving=exit_line(workflow),
        mails=_mails(result.mails, composer, recipient, zone),
        others=_mails(result.other_mails, None, recipient, zone),
        misses=_misses(result, zone),
        decisions=[(at.astimezone(zone), text) for at, text in result.decisions],
        outcome=result.outcome,
        truncated=result.truncated,
    )


def _mails(
    mails: list[SimulatedMail],
    composer: Composer | None,
    recipient: RecipientSnapshot,
    zone: ZoneInfo,
) -> list[MailEvent]:
    """The mails with their subjects rendered (other workflows' keep the written subject)."""
    events = []
    for mail in mails:
        subject, renders = (
            rendered_subject(mail, composer, recipient) if composer else (mail.subject, True)
        )
        events.append(
            MailEvent(
                mail.at.astimezone(zone),
                mail.workflow,
                mail.number,
                mail.step_id,
                mail.template,
                subject,
                renders,
                mail.held_out,
            )
        )
    return events


def _misses(result: Simulation, zone: ZoneInfo) -> list[MissEvent]:
    return [
        MissEvent(
            miss.first.astimezone(zone),
            miss.last.astimezone(zone),
            miss.count,
            miss_span(miss, zone),
            miss.reasons,
        )
        for miss in result.misses
    ]


def suggested_customers(
    settings: Settings, database: Database, workflow: Workflow, now: datetime, limit: int = 6
) -> list[str]:
    """Addresses of a few different customers of the workflow's audience now (those its
    trigger can enroll, as `validate` picks its samples), the ones re-entry lets in first."""
    trigger = workflow.trigger
    context = AudienceContext(now, settings.zone, decimals(settings.currency))
    reentry = workflow.reenter
    with database.session() as session:
        ids = varied_sample(
            session,
            workflow.audience,
            context,
            limit * 4,
            transactional=workflow.transactional,
            buyers_only="last_order" in guaranteed_by_trigger(workflow),
            with_birthday=isinstance(trigger, YearlyTrigger) and trigger.on == "birthday",
        )
        kept_out = reentry_blocked(session, workflow.name, ids, reentry.policy, reentry.after, now)
        chosen = sorted(ids, key=lambda customer_id: customer_id in kept_out)[:limit]
        found = load_recipients(session, chosen, orders_each=0)
    return [found[customer_id].email for customer_id in chosen if customer_id in found]
