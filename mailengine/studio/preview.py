"""What the preview page shows for one workflow, send step and customer, as plain data.

The mail comes from `engine.step_preview` (the real composer, as `mailengine preview`); this
module adds what a person reads beside it: the inbox line, the frames (desktop, mobile,
dark), the checks (`mail_checks`), the customers to switch to, and a failure at its
`file:line:col` instead of a mail when the template does not render for this customer.

It may import `engine`, `store`, `workflows`, `render` and the studio's pure modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailengine.engine.step_preview import StepPreview, StepPreviewer, fitting_samples
from mailengine.errors import MailengineError, SourceLocation
from mailengine.store.customer_directory import CustomerListing, customer_listing
from mailengine.store.database import Database
from mailengine.studio.mail_checks import MailReport, check_mail
from mailengine.studio.mail_frames import DarkMode, dark_mode, inert
from mailengine.workflows.model import SendStep, Workflow


class PreviewChoiceError(MailengineError, LookupError):
    """The workflow, step or customer asked for does not exist."""


@dataclass(frozen=True)
class Who:
    """The customer a preview is for: a customer of the database by id, or a sample."""

    customer_id: int | None = None
    sample: int | None = None

    @classmethod
    def parse(cls, customer: str | None, sample: str | None) -> Who:
        """From the page's query (`customer=42` or `sample=3`); neither: the first sample."""
        try:
            if customer:
                return cls(customer_id=int(customer))
            return cls(sample=int(sample) if sample else None)
        except ValueError:
            raise PreviewChoiceError(
                f"customer and sample are numbers, not {customer or sample!r}"
            ) from None

    @property
    def query(self) -> str:
        return f"customer={self.customer_id}" if self.customer_id else f"sample={self.sample}"


@dataclass(frozen=True)
class SampleChoice:
    number: int
    label: str


@dataclass(frozen=True)
class Frames:
    """`srcdoc` of each frame: the mail made inert, and its dark view."""

    mail: str
    dark: str
    dark_mode: DarkMode


@dataclass(frozen=True)
class Failure:
    message: str
    location: SourceLocation | None


@dataclass(frozen=True)
class PreviewView:
    workflow: Workflow
    steps: tuple[SendStep, ...]
    number: int  # of the step among the sends, 1-based
    who: Who
    who_label: str
    samples: tuple[SampleChoice, ...]
    preview: StepPreview | None
    frames: Frames | None
    report: MailReport | None
    failure: Failure | None

    @property
    def step(self) -> SendStep:
        return self.steps[self.number - 1]

    @property
    def eml_name(self) -> str:
        who = (
            f"customer-{self.who.customer_id}"
            if self.who.customer_id
            else f"sample-{self.who.sample}"
        )
        return f"{self.workflow.name}-step-{self.number}-{who}.eml"


def send_number(workflow: Workflow, number: int | None) -> int:
    """The send step's number (1-based), checked; the first when none is given."""
    sends = workflow.sends()
    if not sends:
        raise PreviewChoiceError(f"workflow {workflow.name} sends nothing")
    chosen = number or 1
    if not 1 <= chosen <= len(sends):
        raise PreviewChoiceError(
            f"workflow {workflow.name} has send steps 1 to {len(sends)}, not {chosen}"
        )
    return chosen


def build_preview(
    previewer: StepPreviewer,
    database: Database,
    workflow: Workflow,
    number: int | None,
    who: Who,
    now: datetime,
) -> PreviewView:
    """The page's data; a template that fails for this customer gives `failure`, not an
    exception, so the page can show where to fix it."""
    chosen = send_number(workflow, number)
    step = workflow.sends()[chosen - 1]
    samples = fitting_samples(workflow, step, now)
    choices = tuple(SampleChoice(n, sample_label(n, context)) for n, context in samples.items())
    if who.customer_id is None:
        if not samples:
            raise PreviewChoiceError(f"no sample customer fits step {step.id} of {workflow.name}")
        who = Who(sample=who.sample if who.sample in samples else next(iter(samples)))
    label = _label(database, who, samples)
    shown: StepPreview | None = None
    failure: Failure | None = None
    try:
        if who.customer_id is not None:
            shown = previewer.for_customer(database, workflow, step, who.customer_id, now)
        else:
            assert who.sample is not None
            shown = previewer.for_sample(workflow, step, who.sample, now, samples[who.sample])
    except MailengineError as exc:
        failure = Failure(exc.message, exc.location)
    frames = report = None
    if shown is not None:
        frames, report = look_at(shown, previewer.settings.http.public_url)
    return PreviewView(
        workflow=workflow,
        steps=tuple(workflow.sends()),
        number=chosen,
        who=who,
        who_label=label,
        samples=choices,
        preview=shown,
        frames=frames,
        report=report,
        failure=failure,
    )


def look_at(shown: StepPreview, public_url: str) -> tuple[Frames, MailReport]:
    """The frames and the checks of a composed mail."""
    composed = shown.composed
    rendered = composed.rendered
    dark, how = dark_mode(rendered.html)
    targets = composed.tracked.targets() if composed.tracked is not None else {}
    report = check_mail(
        subject=rendered.subject,
        preheader=rendered.preheader,
        html_body=rendered.html,
        text_body=rendered.text,
        message_bytes=len(composed.envelope.data),
        tracked_targets=targets,
    )
    return Frames(inert(rendered.html), dark, how), report


def sample_label(number: int, context: Mapping[str, Any]) -> str:
    """`Sample 3: Zoë Müller, de_DE`; the names are sample data, odd characters and all."""
    customer = context["customer"]
    name = " ".join(str(customer.get(part) or "") for part in ("first_name", "last_name"))
    name = " ".join(name.split()) or "no name"
    return f"Sample {number}: {name}, {customer.get('locale')}"


def _label(database: Database, who: Who, samples: Mapping[int, Mapping[str, Any]]) -> str:
    if who.customer_id is None:
        assert who.sample is not None
        return sample_label(who.sample, samples[who.sample])
    with database.session() as session:
        found: CustomerListing | None = customer_listing(session, who.customer_id)
    if found is None:
        raise PreviewChoiceError(f"no customer has the id {who.customer_id}")
    return found.label
