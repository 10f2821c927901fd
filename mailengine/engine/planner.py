"""Pure planning: where an enrollment goes next at `now`, given facts about the customer.

Nothing here reads a clock or a database. The runner feeds it facts backed by the store; the
simulator feeds it the same facts over a frozen clock and records instead of sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
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
# `at: best_hour` looks this many best hours ahead for one contact pressure allows; when it
# allows none (quiet hours over the best hour), the mail goes when pressure allows.
BEST_HOURS_TRIED = 8


class CustomerFacts(Protocol):
    """What planning may ask about one customer, on their data as it is now."""

    zone: ZoneInfo
    send_hour: int  # the customer's best hour (0-23, their zone), else the shop's

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
            allowed_at, reason = send_time(workflow, step, now, facts, len(sends))
            if allowed_at > now:
                decisions.append(f"step {step.id}: deferred to {allowed_at.isoformat()} ({reason})")
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


def send_time(
    workflow: Workflow, step: SendStep, now: datetime, facts: CustomerFacts, planned_now: int
) -> tuple[datetime, str]:
    """When a send step's mail may go: `now`, or later with the reason.

    Marketing waits for what contact pressure allows; with `at: best_hour` it goes in the
    first best hour (in the customer's zone) that pressure allows. Resting until that moment
    and asking again there gives that same moment: the walk never moves its mail on twice.
    """
    pressure = not workflow.transactional
    if step.at is None:
        return facts.send_allowed_at(now, planned_now) if pressure else (now, "")
    hour = facts.send_hour
    best = f"best hour {hour:02d}:00 in {facts.zone.key}"
    moment = now
    for _ in range(BEST_HOURS_TRIED):
        slot = within_hour(moment, hour, facts.zone)
        if not pressure:
            return slot, best
        allowed_at, _ = facts.send_allowed_at(slot, planned_now)
        if allowed_at <= slot:
            return slot, best if slot > now else ""
        moment = allowed_at
    allowed_at, reason = facts.send_allowed_at(now, planned_now)
    return allowed_at, f"{reason}; no {best} is free of it"


def within_hour(moment: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The first moment at or after `moment` in the hour from `hour` o'clock in `zone`:
    `moment` itself when it is in that hour.

    Around clock changes the hour is an hour of real time from the first `hour` o'clock of
    the local day: a repeated hour counts once (its first time), and an hour the clock skips
    is the hour right after the jump.
    """
    instant = moment.astimezone(UTC)
    day = instant.astimezone(zone).date()
    for date in (day, day + timedelta(days=1)):
        start = datetime.combine(date, time(hour), tzinfo=zone).astimezone(UTC)
        if instant < start + timedelta(hours=1):
            return max(instant, start).astimezone(moment.tzinfo)
    raise AssertionError("the next day's hour always lies ahead")  # pragma: no cover


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
