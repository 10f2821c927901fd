"""Render every send step for sample customers, as `validate` does, and keep what fails.

Two kinds of customers: real ones from the database (a varied sample of each workflow's
audience, their context built by the composer as at send time, nothing stored) and the
built-in sample data (`render.sample_data`: missing names, odd characters, many locales).
A step's mail is rendered as it would be sent: with its coupon (a made-up code), with the
trigger's data of the customer's latest such event, with the workflow's guarantees (a
birthday workflow only meets customers with a birthday).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailengine.config import Settings
from mailengine.errors import RenderError, SourceError, SourceLocation
from mailengine.money import decimals, to_minor
from mailengine.outbound import Composer
from mailengine.render.context import CouponData, coupon_context
from mailengine.render.failures import TemplateRenderError
from mailengine.render.library import TemplateLibrary
from mailengine.render.sample_data import sample_contexts
from mailengine.render.schema import context_schema
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.database import Database
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.sample_customers import latest_event_data, varied_sample
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.guarantees import guaranteed
from mailengine.workflows.model import Coupon, EventTrigger, SendStep, Workflow, YearlyTrigger

SAMPLE_CODE = "SAMPLE-CODE"
FAILURES_SHOWN = 3
FAILURES_KEPT = 8  # a step stops being tried after this many failures
TIME_BUDGET = 6.0  # seconds for all trials; renders are capped one by one (`render.limits`)
SAMPLE_SEED = 16  # the sample customers tried; `preview` shows them by the same numbers


@dataclass(frozen=True)
class Failure:
    customer: str
    location: SourceLocation | None
    message: str


@dataclass
class Trial:
    """One mail tried for `tried` customers; the failures, first ones first."""

    tried: int = field(default=0, init=False)
    failures: list[Failure] = field(default_factory=list, init=False)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def given_up(self) -> bool:
        return self.failed >= FAILURES_KEPT

    def first_failures(self) -> list[Failure]:
        """Up to FAILURES_SHOWN failures, each of a different place and kind."""
        shown: dict[tuple[str, str], Failure] = {}
        for failure in self.failures:
            kind = failure.message.split(" for customer ", 1)[0]
            shown.setdefault((str(failure.location), kind), failure)
        return list(shown.values())[:FAILURES_SHOWN]


@dataclass
class StepTrial(Trial):
    """One send step of a workflow, tried."""

    workflow: Workflow
    number: int  # among the workflow's sends, 1-based (as `simulate` and `preview` count)
    step: SendStep


class RenderTrials:
    """Tries workflows' mail for customers; `database` None tries the sample data only."""

    def __init__(
        self,
        settings: Settings,
        library: TemplateLibrary,
        now: datetime,
        database: Database | None = None,
        sample_size: int = 20,
    ) -> None:
        self.settings = settings
        self.library = library
        self.now = now
        self.database = database
        self.sample_size = sample_size
        # Links in these renders are never followed: a throwaway key signs them.
        self.composer = Composer(settings, library, secrets.token_bytes(32))
        self.samples = list(sample_contexts(sample_size, seed=SAMPLE_SEED, now=now))
        self._deadline = time.monotonic() + TIME_BUDGET
        self.customers_tried = 0
        self.out_of_time = False

    def run(self, workflow: Workflow) -> list[StepTrial]:
        trials = [StepTrial(workflow, n, step) for n, step in enumerate(workflow.sends(), 1)]
        recipients = self._recipients(workflow)
        self.customers_tried = max(self.customers_tried, len(recipients))
        for trial in trials:
            present = guaranteed(workflow, trial.step)
            step = trial.step
            for who, context in self._real_contexts(workflow, step, recipients):
                self.attempt(trial, who, context, step.template, step.subject, step.preheader)
            for number, sample in enumerate(self.samples, 1):
                shaped = sample_for_send(sample, step.coupon, present, self.now)
                if shaped is not None:
                    who = f"sample customer {number}"
                    self.attempt(trial, who, shaped, step.template, step.subject, step.preheader)
        return trials

    def attempt(
        self,
        trial: Trial,
        who: str,
        context: Mapping[str, Any],
        template: str,
        subject: str,
        preheader: str | None,
    ) -> None:
        """Render `template` for one customer and keep the failure in `trial`; nothing once
        the trial gave up or the time budget is spent."""
        if trial.given_up:
            return
        if time.monotonic() > self._deadline:
            self.out_of_time = True
            return
        trial.tried += 1
        context = self.composer.with_polls(context, self.now)
        try:
            self.library.render(template, context, subject=subject, preheader=preheader)
        except TemplateRenderError as exc:
            trial.failures.append(Failure(who, exc.location, exc.message))
        except (RenderError, SourceError) as exc:
            trial.failures.append(Failure(who, exc.location, exc.message))

    # --- real customers --------------------------------------------------------------------

    def audience_context(self) -> AudienceContext:
        settings = self.settings
        return AudienceContext(self.now, settings.zone, decimals(settings.currency))

    def _recipients(self, workflow: Workflow) -> list[tuple[RecipientSnapshot, dict[str, Any]]]:
        if self.database is None:
            return []
        trigger = workflow.trigger
        context = self.audience_context()
        with self.database.session() as session:
            ids = varied_sample(
                session,
                workflow.audience,
                context,
                self.sample_size,
                transactional=workflow.transactional,
                buyers_only="last_order" in guaranteed_by_trigger(workflow),
                with_birthday=isinstance(trigger, YearlyTrigger) and trigger.on == "birthday",
            )
            snapshots = load_recipients(session, ids)
            events: dict[int, dict[str, Any]] = {}
            if isinstance(trigger, EventTrigger):
                events = latest_event_data(session, ids, trigger.event)
        found = []
        for customer_id in ids:
            recipient = snapshots.get(customer_id)
            if recipient is not None:
                found.append((recipient, _trigger_data(workflow, recipient, events)))
        return found

    def _real_contexts(
        self,
        workflow: Workflow,
        step: SendStep,
        recipients: list[tuple[RecipientSnapshot, dict[str, Any]]],
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        coupon = self._coupon(step)
        for recipient, trigger in recipients:
            payload: dict[str, Any] = {"tracking": workflow.tracking}
            if trigger:
                payload["trigger"] = trigger
            yield recipient.email, self.composer.context(recipient, self.now, coupon, payload)

    def _coupon(self, step: SendStep) -> IssuedCoupon | None:
        return made_up_coupon(step.coupon, self.settings.currency, SAMPLE_CODE, self.now)


def made_up_coupon(
    offer: Coupon | None, currency: str, code: str, now: datetime
) -> IssuedCoupon | None:
    """The offer as a coupon issued `now`, with a code no customer can use (nothing stored)."""
    if offer is None:
        return None
    return IssuedCoupon(
        code=code,
        percent=offer.percent,
        amount_minor=None if offer.amount is None else to_minor(offer.amount, currency),
        currency=currency if offer.amount is not None else None,
        expires_at=now + offer.valid_for,
    )


def guaranteed_by_trigger(workflow: Workflow) -> frozenset[str]:
    """What every customer the trigger enrolls has, before any step (see `guarantees`)."""
    steps = workflow.sends()
    return guaranteed(workflow, steps[0]) - {"coupon"} if steps else frozenset()


def _trigger_data(
    workflow: Workflow, recipient: RecipientSnapshot, events: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The trigger's data as the engine stores it: the customer's latest such event, or for
    `order.placed` without one (orders imported from a file) their latest order."""
    trigger = workflow.trigger
    if not isinstance(trigger, EventTrigger):
        return {}
    data = events.get(recipient.id)
    if data is None and trigger.event == "order.placed" and recipient.orders:
        data = {"external_id": recipient.orders[0].external_id}
    return {"event": trigger.event, **(data or {})}


def sample_for_send(
    sample: Mapping[str, Any], offer: Coupon | None, present: frozenset[str], now: datetime
) -> Mapping[str, Any] | None:
    """The sample context as a mail with this coupon `offer` would have it, or None when the
    mail never meets such a customer (its sender guarantees something the sample lacks)."""
    context = dict(sample)
    context["ticket"] = None
    context["coupon"] = None
    if offer is not None:
        context["coupon"] = sample.get("coupon") or coupon_context(
            CouponData(
                code=SAMPLE_CODE,
                expires_at=now + offer.valid_for,
                percent=offer.percent,
                amount=offer.amount,
            )
        )
    if "order" in context_schema().fields and context.get("order") is None and "order" in present:
        context["order"] = context.get("last_order")
    return context if all(_has(context, path) for path in present) else None


def _has(context: Mapping[str, Any], path: str) -> bool:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or value.get(part) in (None, [], ""):
            return False
        value = value[part]
    return True
