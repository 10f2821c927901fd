"""What the Customer page shows, in the words and the time zone of the shop: the store's
single customer view plus, for each enrollment, the step the customer waits at and when it is
due, money as the shop writes it, and times as "in 3 days" next to the date.

Plain data only; the page renders from `CustomerView`. May import `store`, `workflows`,
`money` and the subjects `outbound` renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency

from mailengine.money import to_major
from mailengine.outbound import ShownSubject
from mailengine.store.customer_mail import CustomerActivity, EnrollmentState, SentMail
from mailengine.store.customer_record import CustomerRecord
from mailengine.workflows.model import BranchStep, ExitStep, SendStep, WaitStep, Workflow

# Attributes shown as the customer's sizes, in this order, when present.
SIZE_KEYS = ("shirt_size", "waist", "inseam", "shoe_size", "dress_size", "ring_size")


@dataclass(frozen=True)
class EnrollmentLine:
    """One enrollment as a person reads it: where the customer is and what comes next."""

    state: EnrollmentState
    next_step: str
    older_version: bool


@dataclass(frozen=True)
class CustomerView:
    record: CustomerRecord
    activity: CustomerActivity
    enrollments: list[EnrollmentLine]
    sizes: list[tuple[str, str]]
    other_attributes: list[tuple[str, str]]
    zone: ZoneInfo
    now: datetime
    locale: str
    currency: str
    # Each mail's subject as its customer read it, by outbox id (see `subjects_as_received`).
    subjects: dict[int, ShownSubject]

    def subject(self, mail: SentMail) -> ShownSubject:
        """The subject of `mail` as the customer read it; as written when it was not shown."""
        return self.subjects.get(mail.id) or ShownSubject(mail.subject, "not rendered")

    def money(self, minor: int, currency: str | None = None) -> str:
        """5990 -> '€59.90' (in the shop's locale)."""
        code = currency or self.currency
        return format_currency(to_major(minor, code), code, locale=self.locale)

    def language(self, locale: str) -> str:
        """'de_DE' -> 'German (Germany)', in English; the code itself if Babel does not know it."""
        try:
            return str(Locale.parse(locale).get_display_name("en") or locale)
        except (ValueError, UnknownLocaleError):
            return locale

    def local(self, moment: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str:
        """A moment as a date and time in the shop's zone; '' for none."""
        return moment.astimezone(self.zone).strftime(pattern) if moment else ""

    def brief(self, data: dict[str, object], most: int = 6) -> str:
        """An event's data in one line: its plain values, `key: value · ...`."""
        plain = [
            f"{key}: {_shown(value)}"
            for key, value in sorted(data.items())
            if isinstance(value, str | int | float | bool)
        ]
        return " · ".join(plain[:most])

    def relative(self, moment: datetime | None) -> str:
        """'in 3 days', '5 hours ago', 'now' (to the largest whole unit)."""
        if moment is None:
            return ""
        return relative_time(moment, self.now)


def customer_view(
    record: CustomerRecord,
    activity: CustomerActivity,
    workflows: dict[str, Workflow],
    *,
    zone: ZoneInfo,
    now: datetime,
    locale: str,
    currency: str,
    subjects: dict[int, ShownSubject],
) -> CustomerView:
    attributes = record.profile.attributes or {}
    sizes = [(key, str(attributes[key])) for key in SIZE_KEYS if key in attributes]
    others = sorted(
        (key, _shown(value)) for key, value in attributes.items() if key not in SIZE_KEYS
    )
    lines = [
        _enrollment_line(item, workflows.get(item.workflow)) for item in activity.enrollments.items
    ]
    return CustomerView(
        record, activity, lines, sizes, others, zone, now, locale, currency, subjects
    )


def _enrollment_line(state: EnrollmentState, workflow: Workflow | None) -> EnrollmentLine:
    older = workflow is not None and workflow.version != state.workflow_version
    if state.state != "active":
        return EnrollmentLine(state, _finished(state), older)
    if workflow is None:
        return EnrollmentLine(state, f"step {state.step_id or '?'} (the file is gone)", older)
    if state.step_id is None:
        return EnrollmentLine(state, "about to start", older)
    try:
        step = workflow.step(state.step_id)
    except KeyError:
        return EnrollmentLine(state, f"step {state.step_id} of an older version", older)
    return EnrollmentLine(state, f"step {step.id}: {describe_step(step)}", older)


def _finished(state: EnrollmentState) -> str:
    words = {"completed": "went through every step", "exited": "left early", "failed": "failed"}
    said = words.get(state.state, state.state)
    return f"{said}: {state.note}" if state.note else said


def describe_step(step: SendStep | WaitStep | BranchStep | ExitStep) -> str:
    if isinstance(step, SendStep):
        return f"send {step.template}"
    if isinstance(step, WaitStep):
        parts = []
        if step.duration is not None:
            parts.append(f"wait {duration_text(step.duration)}")
        if step.until is not None:
            parts.append(f"until {step.until:%H:%M} their time")
        return ", ".join(parts) or "wait"
    if isinstance(step, BranchStep):
        return "a branch on their data"
    return "exit"


def duration_text(duration: timedelta) -> str:
    """3 days, 12 hours, 30 minutes: the largest whole unit."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def relative_time(moment: datetime, now: datetime) -> str:
    """'in 3 days', '5 hours ago': rounded down to the largest unit; under a minute is 'now'."""
    delta = moment - now
    seconds = abs(delta.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if delta.total_seconds() > 0 else f"{text} ago"
    return "now"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
