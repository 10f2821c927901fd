"""Time travel: which mails one customer would get from a workflow, and when, without sending.

The customer's stored data stands still while a frozen clock moves: the trigger fires when
the engine would fire it (`trigger_times`), each occurrence enrolls the customer only if the
engine's own audience SQL selects them then and the re-entry rule lets them in, and each
enrollment is walked by the engine's planner with the engine's facts (conditions in SQL at the
simulated moment, the frequency cap counting stored and simulated mail, quiet hours, the
open-ticket hold). When nothing is sent, the reasons say why. Nothing is written.
"""

from __future__ import annotations

import heapq
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from mailengine.engine.audience_reasons import reasons_for
from mailengine.engine.facts import HoldCheck, StoreFacts, zone_of
from mailengine.engine.planner import advance
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.trigger_times import MAX_OCCURRENCES, Occurrence, occurrences
from mailengine.store.database import Database
from mailengine.store.engine_queries import customer_in_audience
from mailengine.store.enrollments import reentry_blocked
from mailengine.store.simulation_queries import (
    CustomerFacts,
    customer_facts,
    enrolled_occurrences,
    on_yearly_day,
)
from mailengine.workflows.model import Workflow, YearlyTrigger


@dataclass(frozen=True)
class SimulatedMail:
    at: datetime
    number: int  # among the workflow's sends, 1-based
    step_id: str
    template: str
    subject: str
    preheader: str | None = None
    held_out: bool = False  # enrolled in the control group: planned, never sent


@dataclass(frozen=True)
class Miss:
    """Occurrences of the trigger in a row that did not enroll the customer, and why (as at
    the first of them)."""

    first: datetime
    last: datetime
    count: int
    reasons: tuple[str, ...]


@dataclass
class _Enrollment:
    occurrence: str
    entered_at: datetime
    holdout: bool
    step_id: str | None
    state: str = "active"


@dataclass
class Simulation:
    mails: list[SimulatedMail] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    decisions: list[tuple[datetime, str]] = field(default_factory=list)
    occurrences: int = 0
    first_occurrence: datetime | None = None
    no_date: bool = False  # a yearly trigger, and the customer has no such date
    truncated: bool = False
    outcome: str = "not enrolled"


def simulate(
    database: Database,
    runner: WorkflowRunner,
    workflow: Workflow,
    customer_id: int,
    start: datetime,
    days: int,
    hold: HoldCheck | None = None,
) -> Simulation:
    with database.session() as session:
        walk = _Walk(session, runner, workflow, customer_id, start, hold)
        walk.run(start + timedelta(days=days))
        session.rollback()
    return walk.result


class _Walk:
    def __init__(
        self,
        session: Session,
        runner: WorkflowRunner,
        workflow: Workflow,
        customer_id: int,
        start: datetime,
        hold: HoldCheck | None,
    ) -> None:
        facts = customer_facts(session, customer_id)
        if facts is None:
            raise LookupError(f"no customer with id {customer_id}")
        self.session, self.runner, self.workflow, self.hold = session, runner, workflow, hold
        self.facts: CustomerFacts = facts
        self.start = start
        self.zone = zone_of(facts.values.get("timezone"), runner.zone)
        self.numbers = {step.id: n for n, step in enumerate(workflow.sends(), 1)}
        self.enrollments: list[_Enrollment] = []
        self.stored = enrolled_occurrences(session, workflow.name, customer_id)
        self.planned: list[datetime] = []  # simulated marketing mail, for the frequency cap
        self.result = Simulation()
        self._due: list[tuple[datetime, int, _Enrollment]] = []
        self._order = itertools.count()  # ties in `_due` go first come, first served

    def run(self, end: datetime) -> None:
        found = list(
            occurrences(self.workflow, self.start, end, self.runner.zone, self.zone, self._date())
        )
        self.result.truncated = len(found) >= MAX_OCCURRENCES
        self.result.occurrences = len(found)
        self.result.first_occurrence = found[0].starts if found else None
        pending = iter(found)
        upcoming = next(pending, None)
        while upcoming is not None or self._due:
            if self._due and (upcoming is None or self._due[0][0] <= upcoming.at):
                moment, _, enrollment = heapq.heappop(self._due)
                if moment <= end:
                    self._advance(enrollment, moment)
                continue
            assert upcoming is not None
            self._trigger(upcoming)
            upcoming = next(pending, None)
        if self.enrollments:
            last = self.enrollments[-1]
            self.result.outcome = "still enrolled" if last.state == "active" else last.state

    def _date(self) -> date | None:
        trigger = self.workflow.trigger
        if not isinstance(trigger, YearlyTrigger):
            return None
        values = self.facts.values
        column = {"birthday": "birthday", "signup": "created_at"}.get(trigger.on, "first_order_at")
        value = values.get(column)
        self.result.no_date = value is None
        return value.astimezone(UTC).date() if isinstance(value, datetime) else value

    def _trigger(self, occurrence: Occurrence) -> None:
        reasons = self._refused(occurrence)
        if reasons:
            self._miss(occurrence.at, reasons)
            return
        workflow = self.workflow
        holdout = workflow.holdout is not None and workflow.holdout.holds_out(
            workflow.name, self.facts.id
        )
        enrollment = _Enrollment(occurrence.key, occurrence.at, holdout, workflow.first_step_id())
        self.enrollments.append(enrollment)
        note = " in the control group (held out: nothing is sent)" if holdout else ""
        self.result.decisions.append((occurrence.at, f"enrolled ({occurrence.key}){note}"))
        if enrollment.step_id is None:
            enrollment.state = "completed"
        else:
            heapq.heappush(self._due, (occurrence.starts, next(self._order), enrollment))

    def _refused(self, occurrence: Occurrence) -> list[str]:
        """Why this occurrence does not enroll the customer; empty when it does."""
        earlier = self._simulated_reentry(occurrence.at)
        if earlier:
            return [earlier]
        context = self.runner.context(occurrence.at)
        session, workflow, customer = self.session, self.workflow, self.facts.id
        trigger = workflow.trigger
        if isinstance(trigger, YearlyTrigger) and occurrence.day is not None:
            selected = on_yearly_day(session, workflow, trigger, occurrence.day, customer, context)
        else:
            selected = customer_in_audience(session, workflow, customer, context)
        if not selected:
            return reasons_for(session, workflow, self.facts, context)
        if occurrence.key in self.stored:
            return [f"already enrolled for this occurrence ({occurrence.key})"]
        reentry = workflow.reenter
        if reentry_blocked(
            session, workflow.name, [customer], reentry.policy, reentry.after, occurrence.at
        ):
            return [_reentry_reason(workflow, "was enrolled before")]
        return []

    def _simulated_reentry(self, moment: datetime) -> str | None:
        reentry = self.workflow.reenter
        if reentry.policy == "always" or not self.enrollments:
            return None
        last = self.enrollments[-1]
        if reentry.policy == "never":
            return _reentry_reason(self.workflow, f"entered on {self._day(last.entered_at)}")
        if last.state == "active":
            return f"still in this workflow (entered on {self._day(last.entered_at)})"
        if reentry.after is not None and moment - last.entered_at < reentry.after:
            return _reentry_reason(self.workflow, f"entered on {self._day(last.entered_at)}")
        return None

    def _advance(self, enrollment: _Enrollment, moment: datetime) -> None:
        if enrollment.state != "active" or enrollment.step_id is None:
            return
        facts = StoreFacts(
            self.session,
            self.facts.id,
            self.zone,
            self.runner.context(moment),
            self.runner.pressure,
            self.hold,
        )
        facts.planned = self.planned
        step = advance(self.workflow, enrollment.step_id, moment, facts)
        for send in step.sends:
            self.result.mails.append(
                SimulatedMail(
                    moment,
                    self.numbers[send.id],
                    send.id,
                    send.template,
                    send.subject,
                    send.preheader,
                    enrollment.holdout,
                )
            )
            if not self.workflow.transactional and not enrollment.holdout:
                self.planned.append(moment)
        self.result.decisions.extend((moment, decision) for decision in step.decisions)
        enrollment.state, enrollment.step_id = step.state, step.step_id
        if step.state == "active" and step.next_run_at is not None:
            heapq.heappush(self._due, (step.next_run_at, next(self._order), enrollment))

    def _miss(self, moment: datetime, reasons: list[str]) -> None:
        misses = self.result.misses
        if misses and _shape(misses[-1].reasons) == _shape(reasons):
            last = misses[-1]
            misses[-1] = Miss(last.first, moment, last.count + 1, last.reasons)
        else:
            misses.append(Miss(moment, moment, 1, tuple(reasons)))

    def _day(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.runner.zone):%Y-%m-%d}"


def _reentry_reason(workflow: Workflow, what: str) -> str:
    reentry = workflow.reenter
    rule: str = reentry.policy
    if reentry.policy == "after" and reentry.after is not None:
        rule = f"after {reentry.after.days} days"
    return f"{what} (reenter: {rule})"


def _shape(reasons: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Reasons without their figures: '85 days ago' and '86 days ago' are the same reason."""
    return tuple(re.sub(r"\d+", "#", reason) for reason in reasons)
