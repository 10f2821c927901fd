"""Time travel: which mails one customer would get from a workflow, and when, without sending.

The planner runs over a frozen clock; conditions are evaluated on the customer's stored data
with each simulated `now` (so "days since last order" moves on), and the frequency cap counts
the simulated mails. Nothing is written: the session is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailengine.clock import FrozenClock
from mailengine.engine.facts import StoreFacts, zone_of
from mailengine.engine.planner import advance
from mailengine.engine.runner import WorkflowRunner
from mailengine.store.database import Database
from mailengine.workflows.model import Workflow


@dataclass(frozen=True)
class SimulatedMail:
    at: datetime
    step_id: str
    template: str
    subject: str


@dataclass
class Simulation:
    mails: list[SimulatedMail] = field(default_factory=list)
    decisions: list[tuple[datetime, str]] = field(default_factory=list)
    outcome: str = "still enrolled"


def simulate(
    database: Database,
    runner: WorkflowRunner,
    workflow: Workflow,
    customer_id: int,
    timezone: str | None,
    start: datetime,
    days: int,
) -> Simulation:
    clock = FrozenClock(start)
    end = start + timedelta(days=days)
    result = Simulation()
    zone = zone_of(timezone, runner.zone)
    step_id = workflow.first_step_id()
    with database.session() as session:
        facts = StoreFacts(session, customer_id, zone, runner.context(start), runner.pressure)
        while step_id is not None and clock.now() <= end:
            now = clock.now()
            facts.context = runner.context(now)  # conditions see the simulated moment
            step = advance(workflow, step_id, now, facts)
            for send in step.sends:
                result.mails.append(SimulatedMail(now, send.id, send.template, send.subject))
                if not workflow.transactional:
                    facts.planned.append(now)
            result.decisions.extend((now, decision) for decision in step.decisions)
            if step.state != "active" or step.next_run_at is None:
                result.outcome = step.state
                break
            step_id = step.step_id
            clock.set(step.next_run_at)
        session.rollback()
    if result.outcome == "still enrolled" and step_id is None:
        result.outcome = "completed"
    return result
