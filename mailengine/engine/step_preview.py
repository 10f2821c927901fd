"""Exactly what one send step would send to one customer, without sending it.

`mailengine preview` and the studio's preview page both build their mail here: the real
composer renders the step for a customer of the database (their context as at send time, the
order an order-triggered mail is about, a made-up coupon code) or for one of the built-in
sample customers (`render.sample_data`, numbered as `validate` numbers them), and says why the
customer is not in the workflow's audience when they are not. Nothing is stored or sent.

It may import `outbound`'s names, `store`, `workflows`, `render` and the shared vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailengine.addresses import address_hash
from mailengine.config import Settings
from mailengine.engine.audience_reasons import why_not_selected
from mailengine.engine.render_trials import SAMPLE_SEED, made_up_coupon, sample_for_send
from mailengine.errors import MailengineError
from mailengine.money import decimals
from mailengine.outbound import ComposedMessage, Composer
from mailengine.render.sample_data import sample_contexts
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.database import Database
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.records import ClaimedSend
from mailengine.store.simulation_queries import customer_facts
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.guarantees import guaranteed
from mailengine.workflows.model import EventTrigger, SendStep, Workflow

PREVIEW_CODE = "PREVIEW-CODE"
SAMPLE_CUSTOMERS = 20  # as many as `validate` tries, with the same numbers


class UnknownSampleError(MailengineError, LookupError):
    """No sample customer has this number, or the step never meets it."""


@dataclass(frozen=True)
class StepPreview:
    """One step's mail for one customer: the composed message and who it was made for.

    `not_in_audience` says why the workflow's audience does not select the customer now
    (empty when it does, and for sample customers)."""

    workflow: Workflow
    step: SendStep
    customer: str  # the address, or "sample customer 3"
    composed: ComposedMessage
    not_in_audience: tuple[str, ...] = ()


def choose_send_step(workflow: Workflow, number: int | None, step_id: str | None) -> SendStep:
    """The `number`-th send step (1-based), or the send step with id `step_id`; the first
    when neither is given. Anything else is an error listing the valid choices."""
    sends = workflow.sends()
    if not sends:
        raise MailengineError(f"workflow {workflow.name} sends nothing")
    choices = ", ".join(f"{n} (step id {s.id}, {s.template})" for n, s in enumerate(sends, 1))
    if step_id is not None:
        for step in sends:
            if step.id == step_id:
                return step
        raise MailengineError(
            f"workflow {workflow.name} has no send step with id {step_id!r}; sends: {choices}"
        )
    if number is None:
        return sends[0]
    if number > len(sends):
        raise MailengineError(
            f"workflow {workflow.name} has {len(sends)} send step(s), not {number}: {choices}"
        )
    return sends[number - 1]


class StepPreviewer:
    """Composes steps' mail with `composer` (its templates, key and settings), as the
    dispatcher would; `tracked` rewrites links as a tracked workflow's mail has them."""

    def __init__(self, composer: Composer, *, tracked: bool = False) -> None:
        self.composer = composer
        self.settings: Settings = composer.settings
        self.tracked = tracked

    def for_customer(
        self,
        database: Database,
        workflow: Workflow,
        step: SendStep,
        customer_id: int,
        now: datetime,
    ) -> StepPreview:
        """The step's mail for a customer of the database, as they are `now`."""
        with database.session() as session:
            recipient = load_recipients(session, [customer_id])[customer_id]
            facts = customer_facts(session, customer_id)
            assert facts is not None
            reasons = why_not_selected(session, workflow, facts, self._audience_context(now))
        send = self._send(workflow, step, recipient, now, _order_payload(workflow, recipient))
        composed = self.composer.compose(send, recipient, now, self._coupon(step, now))
        return StepPreview(workflow, step, recipient.email, composed, tuple(reasons))

    def for_sample(
        self,
        workflow: Workflow,
        step: SendStep,
        number: int,
        now: datetime,
        context: Mapping[str, Any] | None = None,
    ) -> StepPreview:
        """The step's mail for built-in sample customer `number` (1-based, as `validate`
        names them); refused when the workflow never meets such a customer. `context` is
        the sample as `fitting_samples` shaped it, when the caller has it already."""
        context = context or sample_context(workflow, step, number, now)
        if context is None:
            raise UnknownSampleError(
                f"sample customer {number} lacks what {workflow.name} step {step.id} always "
                f"has ({', '.join(sorted(guaranteed(workflow, step)))}); choose another"
            )
        recipient = _sample_recipient(context)
        send = self._send(workflow, step, recipient, now, {})
        composed = self.composer.compose_from(send, recipient, now, context)
        return StepPreview(workflow, step, f"sample customer {number}", composed)

    def _send(
        self,
        workflow: Workflow,
        step: SendStep,
        recipient: RecipientSnapshot,
        now: datetime,
        payload: dict[str, Any],
    ) -> ClaimedSend:
        if self.tracked and workflow.tracking:
            payload = {**payload, "tracking": True}
        return ClaimedSend(
            id=0,
            idempotency_key="preview",
            kind="transactional" if workflow.transactional else "marketing",
            workflow=workflow.name,
            step=step.id,
            customer_id=recipient.id or None,
            recipient=recipient.email,
            template=step.template,
            subject=step.subject,
            preheader=step.preheader,
            payload=payload,
            message_id=f"<preview.{workflow.name}.{step.id}@{self.settings.sender.domain}>",
            attempts=0,
            created_at=now,
        )

    def _coupon(self, step: SendStep, now: datetime) -> IssuedCoupon | None:
        return made_up_coupon(step.coupon, self.settings.currency, PREVIEW_CODE, now)

    def _audience_context(self, now: datetime) -> AudienceContext:
        settings = self.settings
        return AudienceContext(
            now=now, zone=settings.zone, currency_exponent=decimals(settings.currency)
        )


def sample_context(
    workflow: Workflow, step: SendStep, number: int, now: datetime
) -> Mapping[str, Any] | None:
    """Sample customer `number` as the step's mail would see them, or None when the
    workflow never meets such a customer; an unknown number is an error."""
    if not 1 <= number <= SAMPLE_CUSTOMERS:
        raise UnknownSampleError(
            f"there are sample customers 1 to {SAMPLE_CUSTOMERS}, not {number}"
        )
    return fitting_samples(workflow, step, now).get(number)


def fitting_samples(
    workflow: Workflow, step: SendStep, now: datetime
) -> dict[int, Mapping[str, Any]]:
    """The sample customers the step may meet, by number, as its mail would see them."""
    present = guaranteed(workflow, step)
    samples = sample_contexts(SAMPLE_CUSTOMERS, seed=SAMPLE_SEED, now=now)
    shaped = {
        n: sample_for_send(sample, step.coupon, present, now) for n, sample in enumerate(samples, 1)
    }
    return {number: context for number, context in shaped.items() if context is not None}


def _order_payload(workflow: Workflow, recipient: RecipientSnapshot) -> dict[str, Any]:
    """An order-triggered workflow's mail is about an order: the preview shows the latest."""
    trigger = workflow.trigger
    if isinstance(trigger, EventTrigger) and trigger.event == "order.placed" and recipient.orders:
        return {"order": recipient.orders[0].external_id}
    return {}


def _sample_recipient(context: Mapping[str, Any]) -> RecipientSnapshot:
    """The envelope's view of a sample customer: their address and name (id 0: no row)."""
    customer = context["customer"]
    email = str(customer["email"])
    return RecipientSnapshot(
        id=0,
        email=email,
        email_hash=address_hash(email),
        profile={"first_name": customer.get("first_name"), "last_name": customer.get("last_name")},
        consent_status="opted_in",
        forgotten=False,
        suppression=None,
    )
