"""Time travel: which mails one customer would get from a workflow, and when, without sending.

The customer's stored data stands still while a frozen clock moves: the trigger fires when
the engine would fire it (`trigger_times`), each occurrence enrolls the customer only if the
engine's own audience SQL selects them then and the re-entry rule lets them in, and each
enrollment is walked by the engine's planner with the engine's facts (conditions in SQL at the
simulated moment, the frequency cap, quiet hours, the open-ticket hold). The customer's
enrollments in progress go on, and the other scheduled marketing workflows run alongside, so
the frequency cap counts what they would send too. When nothing is sent, the reasons say why.
Nothing is written.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailengine.engine.audience_reasons import reasons_for
from mailengine.engine.facts import HoldCheck, StoreFacts, shop_send_hour, zone_of
from mailengine.engine.planner import advance
from mailengine.engine.runner import WorkflowRunner
from mailengine.engine.trigger_times import MAX_OCCURRENCES, Occurrence, occurrences
from mailengine.store.database import Database
from mailengine.store.engine_queries import customer_in_audience
from mailengine.store.simulation_queries import (
    CustomerFacts,
    StoredEnrollment,
    customer_enrollments,
    customer_facts,
    on_yearly_day,
)
from mailengine.workflows.model import EventTrigger, Workflow, YearlyTrigger


@dataclass(frozen=True)
class SimulatedMail:
    at: datetime
    workflow: str
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
class Simulation:
    mails: list[SimulatedMail] = field(default_factory=list)
    other_mails: list[SimulatedMail] = field(default_factory=list)  # other workflows' mail
    misses: list[Miss] = field(default_factory=list)
    decisions: list[tuple[datetime, str]] = field(default_factory=list)
    occurrences: int = 0
    first_occurrence: datetime | None = None
    no_date: bool = False  # a yearly trigger, and the customer has no such date
    truncated: bool = False
    outcome: str = "not enrolled"


@dataclass
class _Enrollment:
    workflow: Workflow
    occurrence: str
    entered_at: datetime
    holdout: bool
    step_id: str | None
    state: str = "active"
    seq: int = 0  # creation order: the engine walks enrollments due together by their id


@dataclass
class _Track:
    """One workflow in the simulation: its enrollments (stored and simulated)."""

    workflow: Workflow
    target: bool
    enrollments: list[_Enrollment] = field(default_factory=list)
    stored_occurrences: set[str] = field(default_factory=set)


def simulate(
    database: Database,
    runner: WorkflowRunner,
    workflow: Workflow,
    customer_id: int,
    start: datetime,
    days: int,
    hold: HoldCheck | None = None,
    others: Iterable[Workflow] = (),
) -> Simulation:
    """`others`: the other workflows in force. When `workflow` is marketing, the other
    marketing workflows go along: their scheduled and yearly triggers fire, and the customer's
    enrollments in them go on, so what they send counts for the frequency cap."""
    alongside = [
        other
        for other in others
        if other.name != workflow.name and not workflow.transactional and not other.transactional
    ]
    with database.session() as session:
        walk = _Walk(session, runner, customer_id, start, hold)
        walk.run(workflow, alongside, start + timedelta(days=days))
        session.rollback()
    return walk.result


class _Walk:
    def __init__(
        self,
        session: Session,
        runner: WorkflowRunner,
        customer_id: int,
        start: datetime,
        hold: HoldCheck | None,
    ) -> None:
        facts = customer_facts(session, customer_id)
        if facts is None:
            raise LookupError(f"no customer with id {customer_id}")
        self.session, self.runner, self.hold, self.start = session, runner, hold, start
        self.facts: CustomerFacts = facts
        self.zone = zone_of(facts.values.get("timezone"), runner.zone)
        hour = facts.values.get("best_send_hour")
        self.send_hour = shop_send_hour(session, runner.settings) if hour is None else int(hour)
        self.planned: list[datetime] = []  # simulated marketing mail, for the frequency cap
        self.result = Simulation()
        self.tracks: dict[str, _Track] = {}
        self._queue: list[tuple[datetime, int, int, Any]] = []
        self._order = itertools.count()
        self._made = itertools.count()  # enrollments, stored ones first

    def run(self, workflow: Workflow, alongside: list[Workflow], end: datetime) -> None:
        for each in (workflow, *alongside):
            self.tracks[each.name] = _Track(each, target=each is workflow)
            day = self._date(each)
            found = []
            if each is workflow or not isinstance(each.trigger, EventTrigger):
                found = list(occurrences(each, self.start, end, self.runner.zone, self.zone, day))
            for occurrence in found:
                self._push(occurrence.at, (self.tracks[each.name], occurrence))
            if each is workflow:
                self.result.no_date = isinstance(each.trigger, YearlyTrigger) and day is None
                self.result.truncated = len(found) >= MAX_OCCURRENCES
                self.result.occurrences = len(found)
                self.result.first_occurrence = found[0].starts if found else None
        self._resume(customer_enrollments(self.session, self.facts.id))
        while self._queue:
            moment, _, _, item = heapq.heappop(self._queue)
            if moment > end:
                break
            if isinstance(item, _Enrollment):
                self._advance(item, moment)
            else:
                self._trigger(*item)
        mine = self.tracks[workflow.name].enrollments
        if mine:
            self.result.outcome = "still enrolled" if mine[-1].state == "active" else mine[-1].state

    def _push(self, moment: datetime, item: _Enrollment | tuple[_Track, Occurrence]) -> None:
        """Steps due at a moment go before the triggers then; steps due together in the
        order their enrollments were made, as the engine claims them."""
        if isinstance(item, _Enrollment):
            heapq.heappush(self._queue, (moment, 0, item.seq, item))
        else:
            heapq.heappush(self._queue, (moment, 1, next(self._order), item))

    def _resume(self, stored: list[StoredEnrollment]) -> None:
        """The customer's enrollments so far: finished ones count for re-entry, active ones of
        the simulated workflows go on from where they rest."""
        for row in stored:
            track = self.tracks.get(row.workflow)
            if track is None:
                continue
            track.stored_occurrences.add(row.occurrence)
            version = self.runner.registry.version(row.workflow, row.workflow_version)
            enrollment = _Enrollment(
                version or track.workflow, row.occurrence, row.entered_at, row.holdout,
                row.step_id, row.state if version is not None else "failed", next(self._made),
            )  # fmt: skip
            track.enrollments.append(enrollment)
            if enrollment.state == "active":
                self._push(max(row.next_run_at or self.start, self.start), enrollment)
                if track.target:
                    self.result.decisions.append(
                        (
                            self.start,
                            f"enrolled since {self._day(row.entered_at)} ({row.occurrence})",
                        )
                    )

    def _date(self, workflow: Workflow) -> date | None:
        """The customer's date a yearly trigger fires on (as the engine's SQL reads it)."""
        trigger = workflow.trigger
        if not isinstance(trigger, YearlyTrigger):
            return None
        column = {"birthday": "birthday", "signup": "created_at"}.get(trigger.on, "first_order_at")
        value = self.facts.values.get(column)
        return value.astimezone(UTC).date() if isinstance(value, datetime) else value

    def _trigger(self, track: _Track, occurrence: Occurrence) -> None:
        reasons = self._refused(track, occurrence)
        if reasons:
            if track.target:
                self._miss(occurrence.at, reasons)
            return
        workflow = track.workflow
        holdout = workflow.holdout is not None and workflow.holdout.holds_out(
            workflow.name, self.facts.id
        )
        enrollment = _Enrollment(
            workflow,
            occurrence.key,
            occurrence.at,
            holdout,
            workflow.first_step_id(),
            seq=next(self._made),
        )
        track.enrollments.append(enrollment)
        if track.target:
            note = " in the control group (held out: nothing is sent)" if holdout else ""
            self.result.decisions.append((occurrence.at, f"enrolled ({occurrence.key}){note}"))
        if enrollment.step_id is None:
            enrollment.state = "completed"
        else:
            self._push(occurrence.starts, enrollment)

    def _refused(self, track: _Track, occurrence: Occurrence) -> list[str]:
        """Why this occurrence does not enroll the customer; empty when it does."""
        earlier = self._reentry(track, occurrence.at)
        if earlier:
            return [earlier]
        context = self.runner.context(occurrence.at)
        session, workflow, customer = self.session, track.workflow, self.facts.id
        trigger = workflow.trigger
        if isinstance(trigger, YearlyTrigger) and occurrence.day is not None:
            selected = on_yearly_day(session, workflow, trigger, occurrence.day, customer, context)
        else:
            selected = customer_in_audience(session, workflow, customer, context)
        if not selected:
            return reasons_for(session, workflow, self.facts, context) if track.target else ["-"]
        if occurrence.key in track.stored_occurrences:
            return [f"already enrolled for this occurrence ({occurrence.key})"]
        return []

    def _reentry(self, track: _Track, moment: datetime) -> str | None:
        """The rule of `store.enrollments.reentry_blocked`, over the stored enrollments as
        the simulation moves them on and the simulated ones."""
        reentry = track.workflow.reenter
        if reentry.policy == "always" or not track.enrollments:
            return None
        last = track.enrollments[-1]
        entered = f"entered on {self._day(last.entered_at)}"
        if reentry.policy == "never":
            return f"{entered} (reenter: never)"
        if any(enrollment.state == "active" for enrollment in track.enrollments):
            return f"still in this workflow ({entered})"
        if reentry.after is not None and moment - last.entered_at < reentry.after:
            return f"{entered} (reenter: after {reentry.after.days} days)"
        return None

    def _advance(self, enrollment: _Enrollment, moment: datetime) -> None:
        if enrollment.state != "active" or enrollment.step_id is None:
            return
        workflow = enrollment.workflow
        facts = StoreFacts(
            self.session,
            self.facts.id,
            self.zone,
            self.runner.context(moment),
            self.runner.pressure,
            self.hold,
            send_hour=self.send_hour,
        )
        facts.planned = self.planned
        step = advance(workflow, enrollment.step_id, moment, facts)
        target = self.tracks[workflow.name].target
        numbers = {send.id: n for n, send in enumerate(workflow.sends(), 1)}
        for send in step.sends:
            mail = SimulatedMail(
                moment, workflow.name, numbers[send.id], send.id, send.template, send.subject,
                send.preheader, enrollment.holdout,
            )  # fmt: skip
            (self.result.mails if target else self.result.other_mails).append(mail)
            if not workflow.transactional and not enrollment.holdout:
                self.planned.append(moment)
        if target:
            self.result.decisions.extend((moment, decision) for decision in step.decisions)
        enrollment.state, enrollment.step_id = step.state, step.step_id
        if step.state == "active" and step.next_run_at is not None:
            self._push(step.next_run_at, enrollment)

    def _miss(self, moment: datetime, reasons: list[str]) -> None:
        misses = self.result.misses
        if misses and _shape(misses[-1].reasons) == _shape(reasons):
            last = misses[-1]
            misses[-1] = Miss(last.first, moment, last.count + 1, last.reasons)
        else:
            misses.append(Miss(moment, moment, 1, tuple(reasons)))

    def _day(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.runner.zone):%Y-%m-%d}"


def _shape(reasons: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Reasons without their figures: '85 days ago' and '86 days ago' are the same reason."""
    return tuple(re.sub(r"\d+", "#", reason) for reason in reasons)
