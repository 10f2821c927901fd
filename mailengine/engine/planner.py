"""Pure planning: where an enrollment goes next at `now`, given facts about the customer.

Nothing here reads a clock or a database. The runner feeds it facts backed by the store; the
simulator feeds it the same facts over a frozen clock and records instead of sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from mailengine.workflows.model import (
    BranchStep,
    Condition,
    ExitStep,
    SendStep,
    WaitStep,
    Workflow,
)

# A runaway walk (a workflow of branches without waits) is stopped after this many steps.
MAX_STEPS_PER_ADVANCE = 200


class CustomerFacts(Protocol):
    """What planning may ask about one customer, on their data as it is now."""

    zone: ZoneInfo

    def matches(self, condition: Condition) -> bool: ...

    def send_allowed_at(self, now: datetime, planned_now: int) -> tuple[datetime, str]:
        """When the next marketing mail may go (now, or later with the reason)."""
        ...


@dataclass(frozen=True)
class Advance:
    """What to do for one enrollment now, and where it rests afterwards."""

    sends: list[SendStep] = field(default_factory=list)
    state: Literal["active", "completed", "exited"] = "active"
    step_id: str | None = None
    next_run_at: datetime | None = None
    decisions: list[str] = field(default_factory=list)


def advance(
    workflow: Workflow, step_id: str | None, now: datetime, facts: CustomerFacts
) -> Advance:
    """Walk from `step_id` until a wait, a deferral, an exit or the end of the workflow."""
    decisions: list[str] = []
    for goal in workflow.exit_when:
        if goal.condition is not None and facts.matches(goal.condition):
            decisions.append("exit goal reached")
            return Advance(state="exited", decisions=decisions)
    sends: list[SendStep] = []
    current = step_id
    for _ in range(MAX_STEPS_PER_ADVANCE):
        if current is None:
            return Advance(sends, "completed", decisions=decisions)
        step = workflow.step(current)
        if isinstance(step, SendStep):
            if not workflow.transactional:
                allowed_at, reason = facts.send_allowed_at(now, len(sends))
                if allowed_at > now:
                    decisions.append(
                        f"step {step.id}: deferred to {allowed_at.isoformat()} ({reason})"
                    )
                    return Advance(sends, "active", current, allowed_at, decisions)
            sends.append(step)
            current = workflow.next_step_id(current)
        elif isinstance(step, WaitStep):
            resume = wait_until(step, now, facts.zone)
            decisions.append(f"step {step.id}: wait until {resume.isoformat()}")
            following = workflow.next_step_id(current)
            if following is None:
                return Advance(sends, "completed", decisions=decisions)
            return Advance(sends, "active", following, resume, decisions)
        elif isinstance(step, BranchStep):
            taken = facts.matches(step.condition)
            arm = step.then if taken else step.otherwise
            decisions.append(f"step {step.id}: condition {'true' if taken else 'false'}")
            current = arm[0].id if arm else workflow.next_step_id(current)
        elif isinstance(step, ExitStep):
            decisions.append(f"step {step.id}: exit")
            return Advance(sends, "exited", decisions=decisions)
    raise RuntimeError(f"workflow {workflow.name} walked {MAX_STEPS_PER_ADVANCE} steps at once")


def wait_until(step: WaitStep, now: datetime, zone: ZoneInfo) -> datetime:
    """The end of a wait: after `duration`, then the next `until` time of day in `zone`."""
    moment = now + (step.duration or timedelta(0))
    if step.until is None:
        return moment
    return next_local_time(moment, step.until, zone)


def next_local_time(moment: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first time it is `at` o'clock in `zone` at or after `moment`."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate < local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(moment.tzinfo)


@dataclass(frozen=True)
class ContactPressure:
    """At most `max_per_period` marketing mails per customer per `period`; none in quiet hours."""

    max_per_period: int
    period: timedelta
    quiet_start: time | None = None
    quiet_end: time | None = None

    def allowed_at(
        self, now: datetime, recent: list[datetime], planned_now: int, zone: ZoneInfo
    ) -> tuple[datetime, str]:
        """`recent`: when marketing mail was planned within the last period (oldest first)."""
        moment, reason = now, ""
        window = sorted(t for t in recent if t > now - self.period)
        count = len(window) + planned_now
        if count >= self.max_per_period:
            # The cap frees a place when the oldest mail in the window ages out.
            index = count - self.max_per_period
            oldest = window[index] if index < len(window) else now
            moment = max(moment, oldest + self.period)
            reason = f"frequency cap of {self.max_per_period} per {self.period.days} days"
        quiet_until = self.quiet_until(moment, zone)
        if quiet_until is not None:
            moment, reason = quiet_until, "quiet hours"
        return moment, reason

    def quiet_until(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The end of the quiet hours `moment` falls in, or None."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        local = moment.astimezone(zone).time()
        start, end = self.quiet_start, self.quiet_end
        inside = start <= local or local < end if start > end else start <= local < end
        if not inside:
            return None
        return next_local_time(moment, end, zone)
