"""The figures on a workflow's diagram: who is where now, and what each send step achieved.

Enrollments come from `store.workflow_progress` (the queue at every step of the version in
force); sends, opens, clicks, conversions and revenue from `store.reporting.build_report`,
the same report `mailengine report` prints, over the same period and conversion window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from mailengine.store.reporting import ALL_STEPS, DEFAULT_WINDOW, build_report
from mailengine.store.workflow_progress import workflow_progress
from mailengine.workflows.model import SendStep, Workflow


@dataclass(frozen=True)
class StepFigures:
    resting: int = 0  # active enrollments that run this step next
    waiting: int = 0  # of them, not due yet
    due_soon: int = 0  # of them, due within the next 24 hours (overdue ones included)
    sends: bool = False  # a send step: the figures below mean something
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    revenue_minor: int = 0


@dataclass(frozen=True)
class WorkflowFigures:
    since: datetime
    until: datetime
    window: timedelta
    states: dict[str, int]  # enrollments by state: active, completed, exited, failed
    held_out: int
    older_versions: int  # active enrollments finishing an earlier version
    steps: dict[str, StepFigures] = field(default_factory=dict)
    total: StepFigures = StepFigures()

    @property
    def enrolled(self) -> int:
        return sum(self.states.values())

    def of(self, step_id: str) -> StepFigures:
        return self.steps.get(step_id, StepFigures())


def workflow_figures(
    session: Session,
    workflow: Workflow,
    since: datetime,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> WorkflowFigures:
    """Figures for every step of `workflow`, sends counted since `since`."""
    progress = workflow_progress(session, workflow.name, now)
    rows = {
        row.step: row
        for row in build_report(session, since, now, workflow=workflow.name, window=window)
    }
    steps: dict[str, StepFigures] = {}
    for step in workflow.all_steps():
        queue = progress.at_step(step.id, workflow.version)
        row = rows.get(step.id)
        steps[step.id] = StepFigures(
            resting=queue.resting if queue else 0,
            waiting=queue.waiting if queue else 0,
            due_soon=queue.due_soon if queue else 0,
            sends=isinstance(step, SendStep),
            sent=row.sent if row else 0,
            opened=row.opened if row else 0,
            clicked=row.clicked if row else 0,
            converted=row.conversions if row else 0,
            revenue_minor=row.revenue_minor if row else 0,
        )
    total = rows.get(ALL_STEPS)
    return WorkflowFigures(
        since=since,
        until=now,
        window=window,
        states=dict(progress.states),
        held_out=progress.held_out,
        older_versions=progress.on_other_versions(workflow.version),
        steps=steps,
        total=StepFigures(
            sends=True,
            sent=total.sent if total else 0,
            opened=total.opened if total else 0,
            clicked=total.clicked if total else 0,
            converted=total.conversions if total else 0,
            revenue_minor=total.revenue_minor if total else 0,
        ),
    )
