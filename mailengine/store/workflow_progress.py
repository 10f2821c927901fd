"""Where a workflow's customers are now: enrollments by state, and the queue at every step.

An active enrollment rests on the step it runs next, with the time it runs (`next_run_at`):
after a wait, on the step after the wait; when the frequency cap or quiet hours defer a
send, on the send. Two grouped queries per workflow, whatever the number of customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlmodel import Session

from mailengine.store.enrollments import enrollment_table

DUE_HORIZON = timedelta(hours=24)


@dataclass(frozen=True)
class StepQueue:
    """Active enrollments resting on one step of one version of the workflow."""

    version: str
    step_id: str
    resting: int
    waiting: int  # not due yet: their time is after now
    due_soon: int  # due by now + the horizon (overdue ones included)


@dataclass
class WorkflowProgress:
    states: dict[str, int] = field(default_factory=dict)  # active, completed, exited, failed
    held_out: int = 0  # enrollments in the control group, any state
    queues: list[StepQueue] = field(default_factory=list)

    @property
    def enrolled(self) -> int:
        return sum(self.states.values())

    def at_step(self, step_id: str, version: str) -> StepQueue | None:
        """The queue at `step_id` of this version (step ids of other versions name other
        steps)."""
        return next((q for q in self.queues if q.step_id == step_id and q.version == version), None)

    def on_other_versions(self, version: str) -> int:
        """Active enrollments finishing an earlier version of the workflow."""
        return sum(q.resting for q in self.queues if q.version != version)


def workflow_progress(
    session: Session, workflow: str, now: datetime, horizon: timedelta = DUE_HORIZON
) -> WorkflowProgress:
    n = enrollment_table.c
    progress = WorkflowProgress()
    states = (
        select(n.state, n.holdout, func.count())
        .where(n.workflow == workflow)
        .group_by(n.state, n.holdout)
    )
    for state, holdout, count in session.execute(states):
        progress.states[state] = progress.states.get(state, 0) + int(count)
        progress.held_out += int(count) if holdout else 0
    queues = (
        select(
            n.workflow_version,
            n.step_id,
            func.count(),
            func.sum(case((n.next_run_at > now, 1), else_=0)),
            func.sum(case((n.next_run_at <= now + horizon, 1), else_=0)),
        )
        .where(n.workflow == workflow, n.state == "active", n.step_id.is_not(None))
        .group_by(n.workflow_version, n.step_id)
        .order_by(n.workflow_version, n.step_id)
    )
    progress.queues = [
        StepQueue(version, step_id, int(resting), int(waiting or 0), int(due or 0))
        for version, step_id, resting, waiting, due in session.execute(queues)
    ]
    return progress


def states_by_workflow(session: Session) -> dict[str, dict[str, int]]:
    """Enrollments of every workflow by state, in one grouped query."""
    n = enrollment_table.c
    statement = select(n.workflow, n.state, func.count()).group_by(n.workflow, n.state)
    found: dict[str, dict[str, int]] = {}
    for workflow, state, count in session.execute(statement):
        found.setdefault(workflow, {})[state] = int(count)
    return found
