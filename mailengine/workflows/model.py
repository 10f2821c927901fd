"""The typed, frozen workflow the engine walks: triggers, audience conditions, goals and steps.

Everything here is plain data built by the loader from YAML; nothing knows SQL or YAML syntax.
Steps carry stable ids ("1", "3.then.1") so an enrollment can name where a customer is, and a
workflow carries a version (a hash of its content) so customers finish the version they entered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from mailengine.errors import SourceLocation

# --- values in conditions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelativeMoment:
    """`90 days ago` (offset -90 days), `in 7 days`, `now`, `today` (start of the local day)."""

    offset: timedelta
    start_of_day: bool = False

    def resolve(self, now: datetime, zone: ZoneInfo) -> datetime:
        moment = (now + self.offset).astimezone(zone)
        if self.start_of_day:
            moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return moment


# A value a condition compares with; Decimal for numbers written with a fraction.
Scalar = str | int | Decimal | bool | date | datetime | RelativeMoment
Operator = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "starts_with",
    "is_set",
    "before",
    "after",
    "within",
]

# --- audience conditions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op value`, e.g. `last_order_at before 90 days ago`, `attributes.shoe_size >= 42`.

    `value` is a timedelta for `within`, a tuple for `in` / `not_in`, a bool for `is_set`.
    """

    field: str
    operator: Operator
    value: Scalar | timedelta | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class WindowComparison:
    """An order aggregate over a window: `spent: {within: 90 days, gte: 100}`."""

    metric: Literal["spent", "orders"]
    window: timedelta
    operator: Operator
    value: int | Decimal


@dataclass(frozen=True, slots=True)
class TopPercent:
    """The top `percent` % of buying customers ranked by `by` (highest first)."""

    percent: int
    by: str


@dataclass(frozen=True, slots=True)
class RfmScore:
    """RFM score (recency + frequency + monetary, each 1-5 among buyers): `rfm: {gte: 12}`."""

    operator: Operator
    value: int | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RfmSegment:
    """Customers in one of the named RFM segments (`champions`, `at-risk`, ...)."""

    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


Condition = Comparison | WindowComparison | TopPercent | RfmScore | RfmSegment | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class DataFilter:
    """Conditions on an event's data (`where: {channel: online}`), checked in Python."""

    comparisons: tuple[Comparison, ...]


# --- triggers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """Enroll a customer when an event of `event` type arrives (and its data matches)."""

    event: str
    where: DataFilter | None = None


@dataclass(frozen=True, slots=True)
class ScheduleTrigger:
    """Select the audience at every fire of a cron expression, in the configured time zone."""

    cron: str


YearlyDate = Literal["birthday", "signup", "first_order"]


@dataclass(frozen=True, slots=True)
class YearlyTrigger:
    """Once a year on a date of the customer's (their birthday), at a local time of day."""

    on: YearlyDate
    at: time


Trigger = EventTrigger | ScheduleTrigger | YearlyTrigger

# --- goals, re-entry, holdout -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExitGoal:
    """Leave the workflow when this event arrives (and its data matches) or the customer
    matches `condition` (checked before every step)."""

    event: str | None = None
    where: DataFilter | None = None
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Reentry:
    """May a customer be enrolled again?

    `never`: once per customer, ever. `always`: every trigger enrolls (one enrollment per
    event: each order gets its confirmation). `after`: only when the last enrollment started
    at least `after` ago and none is still running.
    """

    policy: Literal["never", "always", "after"]
    after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Holdout:
    """A control group: `percent` % of the audience is enrolled but never sent anything."""

    percent: int

    def holds_out(self, workflow_name: str, customer_id: int) -> bool:
        """Stable per customer and workflow, independent of the workflow's version."""
        digest = hashlib.sha256(f"{workflow_name}:{customer_id}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < self.percent


# --- steps --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coupon:
    """A personal coupon: `percent` off, or `amount` off (shop currency, major units)."""

    valid_for: timedelta
    percent: int | None = None
    amount: Decimal | None = None


# When a send step's mail goes: `best_hour` waits for the customer's best hour to read mail.
SendTime = Literal["best_hour"]


@dataclass(frozen=True, slots=True)
class SendStep:
    id: str
    location: SourceLocation
    template: str
    subject: str
    preheader: str | None = None
    coupon: Coupon | None = None
    subject_at: SourceLocation | None = None  # where the subject and preheader are written
    preheader_at: SourceLocation | None = None
    at: SendTime | None = None  # None: as soon as the step is reached


@dataclass(frozen=True, slots=True)
class WaitStep:
    """Wait `duration`, then (if `until` is set) until the next `until` in the customer's zone."""

    id: str
    location: SourceLocation
    duration: timedelta | None = None
    until: time | None = None


@dataclass(frozen=True, slots=True)
class BranchStep:
    """`if` a condition on the customer's fresh data, `then` these steps, `else` those."""

    id: str
    location: SourceLocation
    condition: Condition
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...] = ()


@dataclass(frozen=True, slots=True)
class ExitStep:
    id: str
    location: SourceLocation


Step = SendStep | WaitStep | BranchStep | ExitStep

# --- the workflow -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicText:
    """How customers see a workflow's mail (preferences and unsubscribe pages)."""

    title: str
    blurb: str = ""


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    description: str
    path: str
    version: str  # sha256 (16 hex) of the file's data: comments and layout do not count
    transactional: bool
    trigger: Trigger
    audience: Condition | None
    exit_when: tuple[ExitGoal, ...]
    reenter: Reentry
    steps: tuple[Step, ...]
    holdout: Holdout | None = None
    tracking: bool = True  # open pixel and click redirects in this workflow's mail
    public: PublicText | None = None  # what customers read about it; None: shown by name
    _index: dict[str, Step] = field(default_factory=dict, compare=False, repr=False)
    _next: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({step.id: step for step in walk_steps(self.steps)})
        _link(self.steps, None, self._next)

    def step(self, step_id: str) -> Step:
        """The step with this id; KeyError if the workflow has none such."""
        return self._index[step_id]

    def first_step_id(self) -> str | None:
        return self.steps[0].id if self.steps else None

    def next_step_id(self, step_id: str) -> str | None:
        """The step after `step_id` once it is done (a branch's arms end where the branch does);
        None when the workflow is finished. For a branch, pick the arm yourself: its first step."""
        return self._next[step_id]

    def all_steps(self) -> Iterator[Step]:
        """Every step, depth first, in the order a customer could meet them."""
        return walk_steps(self.steps)

    def sends(self) -> list[SendStep]:
        """The send steps in the order a customer could meet them: send 1, send 2, ..."""
        return [step for step in self.all_steps() if isinstance(step, SendStep)]

    def templates(self) -> list[str]:
        """Every template the workflow may send, in order of appearance, without repeats."""
        names = (step.template for step in self.all_steps() if isinstance(step, SendStep))
        return list(dict.fromkeys(names))


def _link(steps: tuple[Step, ...], after: str | None, links: dict[str, str | None]) -> None:
    for position, step in enumerate(steps):
        following = steps[position + 1].id if position + 1 < len(steps) else after
        links[step.id] = None if isinstance(step, ExitStep) else following
        if isinstance(step, BranchStep):
            _link(step.then, following, links)
            _link(step.otherwise, following, links)


def walk_steps(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        if isinstance(step, BranchStep):
            yield from walk_steps(step.then)
            yield from walk_steps(step.otherwise)
