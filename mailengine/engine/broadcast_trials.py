"""Render every variant of a broadcast for sample customers, as `validate` does for workflows.

The same two kinds of customers as `render_trials`: a varied sample of the broadcast's
audience in the database (their context as the composer builds it at send time) and the
built-in sample customers that fit the audience. Each mail has the broadcast's `content`,
its coupon (a made-up code) and the variant's template, subject and preheader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailengine.broadcasts.model import Broadcast, Variant
from mailengine.broadcasts.validation import guaranteed
from mailengine.engine.render_trials import (
    SAMPLE_CODE,
    RenderTrials,
    Trial,
    made_up_coupon,
    sample_for_send,
)
from mailengine.render.context import BroadcastData, broadcast_context
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.sample_customers import varied_sample
from mailengine.workflows.guarantees import guaranteed_by_audience


@dataclass
class VariantTrial(Trial):
    """One variant of a broadcast (`all` without a test), tried."""

    broadcast: Broadcast
    variant: Variant

    @property
    def label(self) -> str:
        template = self.variant.template
        if self.broadcast.variants:
            return f"variant {self.variant.name} ({template})"
        return f"the mail ({template})"


def try_broadcast(trials: RenderTrials, broadcast: Broadcast) -> list[VariantTrial]:
    """Render each variant for the audience's sample and the fitting built-in customers."""
    found = [VariantTrial(broadcast, variant) for variant in broadcast.test_variants()]
    recipients = _recipients(trials, broadcast)
    trials.customers_tried = max(trials.customers_tried, len(recipients))
    coupon = made_up_coupon(broadcast.coupon, trials.settings.currency, SAMPLE_CODE, trials.now)
    audience = guaranteed_by_audience(broadcast.audience)
    for trial in found:
        variant = trial.variant
        payload = broadcast_payload(broadcast, variant)
        mail = (variant.template, variant.subject, variant.preheader)
        for recipient in recipients:
            context = trials.composer.context(recipient, trials.now, coupon, payload)
            trials.attempt(trial, recipient.email, context, *mail)
        for number, sample in enumerate(trials.samples, 1):
            shaped = sample_for_send(
                with_broadcast(sample, broadcast, variant), broadcast.coupon, audience, trials.now
            )
            if shaped is not None:
                trials.attempt(trial, f"sample customer {number}", shaped, *mail)
    return found


def broadcast_payload(broadcast: Broadcast, variant: Variant) -> dict[str, Any]:
    """The outbox payload keys the composer turns into `broadcast` in the template."""
    return {
        "broadcast": broadcast.name,
        "variant": variant.name,
        "content": broadcast.content,
        "tracking": broadcast.tracking,
    }


def with_broadcast(
    context: Mapping[str, Any], broadcast: Broadcast, variant: Variant
) -> dict[str, Any]:
    """A (sample) context with the broadcast's section, as a broadcast's mail has it."""
    section = broadcast_context(BroadcastData(broadcast.name, variant.name, broadcast.content))
    return {**context, "broadcast": section}


def _recipients(trials: RenderTrials, broadcast: Broadcast) -> list[RecipientSnapshot]:
    if trials.database is None:
        return []
    present = guaranteed(broadcast)
    with trials.database.session() as session:
        ids = varied_sample(
            session,
            broadcast.audience,
            trials.audience_context(),
            trials.sample_size,
            buyers_only="last_order" in present,
        )
        found = load_recipients(session, ids)
    return [found[customer_id] for customer_id in ids if customer_id in found]
