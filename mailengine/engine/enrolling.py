"""Enrolling customers: the step every trigger shares, and a batch of events worked at once.

A claimed batch of events costs a few statements per workflow rather than several per event:
data filters are checked in Python, then exit goals, audience membership, re-entry and the
inserts run set-based. The outcome is the one of working the events one by one in order:

- audience membership reads the customer's data, which enrolling does not change, so it is
  asked once per workflow for every candidate of the batch;
- an exit or an enrollment made by one event is seen by the next event of the same customer
  (re-entry, exit goals), so a customer's events are worked in rounds: the first event of
  every customer, then every second one, and so on; customers do not affect one another;
- an event that cannot be worked (data that is not an object, say) is skipped whole, as its
  rolled-back savepoint skipped it. A batch that fails in the database is worked again event
  by event by the caller, each in a savepoint of its own.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session

from mailengine.store.engine_queries import customers_in_audience
from mailengine.store.enrollments import (
    NewEnrollment,
    enroll,
    exit_all_active,
    reentry_blocked,
)
from mailengine.store.events import EventRow
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.data_filters import event_matches as data_matches
from mailengine.workflows.model import EventTrigger, Workflow

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One customer to enroll: under which occurrence, with which trigger data, from when."""

    customer_id: int
    occurrence: str
    trigger_data: dict[str, Any] = field(default_factory=dict)
    start: datetime | None = None  # None: now


def enroll_entries(
    session: Session, workflow: Workflow, entries: Sequence[Entry], now: datetime
) -> list[int]:
    """Enroll those the workflow's re-entry policy lets in (each customer once in `entries`);
    returns the customer ids newly enrolled."""
    reentry = workflow.reenter
    blocked = reentry_blocked(
        session,
        workflow.name,
        [entry.customer_id for entry in entries],
        reentry.policy,
        reentry.after,
        now,
    )
    holdout = workflow.holdout
    first_step = workflow.first_step_id()
    return enroll(
        session,
        [
            NewEnrollment(
                workflow=workflow.name,
                workflow_version=workflow.version,
                customer_id=entry.customer_id,
                occurrence=entry.occurrence,
                step_id=first_step,
                next_run_at=entry.start or now,
                holdout=holdout is not None and holdout.holds_out(workflow.name, entry.customer_id),
                trigger_data=entry.trigger_data,
            )
            for entry in entries
            if entry.customer_id not in blocked
        ],
        now,
    )


@dataclass(frozen=True)
class EventWork:
    """What one event asks for its customer: workflows to leave, workflows to enter."""

    event: EventRow
    customer_id: int
    leaving: tuple[str, ...]
    entering: tuple[str, ...]  # trigger and data filter match; the audience is asked later


def wanted_event_types(workflows: Sequence[Workflow]) -> frozenset[str]:
    """The event types some workflow enters or leaves on: an event of any other type asks
    nothing of the engine (its data need not even be read)."""
    triggers = {w.trigger.event for w in workflows if isinstance(w.trigger, EventTrigger)}
    goals = {goal.event for w in workflows for goal in w.exit_when if goal.event is not None}
    return frozenset(triggers | goals)


def event_work(workflows: Sequence[Workflow], event: EventRow) -> EventWork | None:
    """The exit goals and triggers `event` meets (None: it concerns no customer)."""
    if event.customer_id is None:
        return None
    leaving = tuple(
        workflow.name
        for workflow in workflows
        if any(
            goal.event == event.type and data_matches(goal.where, event.data)
            for goal in workflow.exit_when
        )
    )
    entering = tuple(
        workflow.name
        for workflow in workflows
        if isinstance(workflow.trigger, EventTrigger)
        and workflow.trigger.event == event.type
        and data_matches(workflow.trigger.where, event.data)
    )
    return EventWork(event, event.customer_id, leaving, entering)


def work_events(
    session: Session,
    workflows: Sequence[Workflow],
    events: Sequence[EventRow],
    context: AudienceContext,
    now: datetime,
) -> None:
    """Exit and enroll on `events` (in id order). Raises on a database error: the caller rolls
    the batch back and works its events one by one."""
    types = wanted_event_types(workflows)
    works = [
        work
        for event in events
        if event.type in types and (work := _guarded(event, workflows)) is not None
    ]
    wanted: dict[str, set[int]] = defaultdict(set)
    for work in works:
        for name in work.entering:
            wanted[name].add(work.customer_id)
    members = {
        workflow.name: customers_in_audience(session, workflow, wanted[workflow.name], context)
        for workflow in workflows
        if wanted.get(workflow.name)
    }
    entries: list[tuple[EventWork, dict[str, Entry]]] = []
    for work in works:
        entering = [name for name in work.entering if work.customer_id in members[name]]
        try:
            trigger_data = {"event": work.event.type, **work.event.data} if entering else {}
        except Exception:
            _log_broken(work.event)
            continue
        occurrence = f"event:{work.event.id}"
        entry = Entry(work.customer_id, occurrence, trigger_data)
        entries.append((work, dict.fromkeys(entering, entry)))
    for batch in rounds(entries, key=lambda item: item[0].customer_id):
        _work_round(session, workflows, batch, now)


def _work_round(
    session: Session,
    workflows: Sequence[Workflow],
    batch: list[tuple[EventWork, dict[str, Entry]]],
    now: datetime,
) -> None:
    """Events of distinct customers: every exit first, then every enrollment, per workflow."""
    leaving: dict[tuple[tuple[str, ...], str], list[int]] = defaultdict(list)
    for work, _ in batch:
        if work.leaving:
            leaving[(work.leaving, work.event.type)].append(work.customer_id)
    for (names, event_type), customer_ids in leaving.items():
        exit_all_active(session, customer_ids, names, now, f"exit goal: {event_type}")
    for workflow in workflows:
        entering = [entry for _, by_name in batch if (entry := by_name.get(workflow.name))]
        if entering:
            enroll_entries(session, workflow, entering, now)


def _guarded(event: EventRow, workflows: Sequence[Workflow]) -> EventWork | None:
    try:
        return event_work(workflows, event)
    except Exception:
        _log_broken(event)
        return None


def _log_broken(event: EventRow) -> None:
    log.exception("event %s (%s) could not be processed", event.id, event.type)


def rounds(items: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """`items` in rounds, in their order: the first item of every key, then every second..."""
    seen: dict[Hashable, int] = defaultdict(int)
    result: list[list[T]] = []
    for item in items:
        number = seen[key(item)]
        seen[key(item)] = number + 1
        if number == len(result):
            result.append([])
        result[number].append(item)
    return result
