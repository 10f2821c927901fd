"""What a phase of a broadcast plans: its cells (a variant, its customer-id buckets, the
payload of its mail) and the inputs of the planning statement (`store.broadcast_plan`).

May import the broadcasts' model, the config and the store's planning records."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailengine.broadcasts.model import Broadcast, Variant, split_coefficients
from mailengine.config import Settings
from mailengine.engine.broadcast_trials import broadcast_payload
from mailengine.money import decimals, to_minor
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.broadcast_plan import BroadcastPlan, ContactCap, PlanCell
from mailengine.workflows.audience import AudienceContext


def phase_cells(
    broadcast: Broadcast, phase: str, winner: str | None, currency: str
) -> list[PlanCell]:
    """The cells a phase plans: each test variant's id buckets, or the winner's for the rest."""
    if phase == "rest":
        assert winner is not None
        low_high = broadcast.rest_range()
        assert low_high is not None
        return [_cell(broadcast, broadcast.variant(winner), "rest", low_high, currency)]
    ranges = broadcast.bucket_ranges()
    return [
        _cell(broadcast, variant, phase, ranges[variant.name], currency)
        for variant in broadcast.test_variants()
    ]


def _cell(
    broadcast: Broadcast, variant: Variant, phase: str, low_high: tuple[int, int], currency: str
) -> PlanCell:
    payload = {**broadcast_payload(broadcast, variant), "phase": phase}
    payload["topic"] = broadcast.topic
    if broadcast.coupon is not None:
        coupon = broadcast.coupon
        payload["coupon"] = {
            "percent": coupon.percent,
            "amount_minor": to_minor(coupon.amount, currency) if coupon.amount else None,
            "currency": currency if coupon.amount is not None else None,
            "valid_seconds": int(coupon.valid_for.total_seconds()),
        }
    low, high = low_high
    return PlanCell(
        variant.name, low, high, variant.template, variant.subject, variant.preheader, payload
    )


def statement_plan(
    broadcast: Broadcast,
    run: BroadcastRun,
    cells: list[PlanCell],
    settings: Settings,
    secret: bytes,
    now: datetime,
) -> BroadcastPlan:
    """The planning statement's inputs for a phase: audience, cells, contact-pressure cap."""
    cap = None
    if broadcast.contact_pressure:
        pressure = settings.contact_pressure
        cap = ContactCap(
            pressure.max_marketing_emails,
            now - timedelta(days=pressure.per_days),
            f"contact pressure: {pressure.max_marketing_emails} marketing e-mails "
            f"in {pressure.per_days} days already",
        )
    context = AudienceContext(now, settings.zone, decimals(settings.currency))
    return BroadcastPlan(
        workflow_key=broadcast.workflow_key,
        version=run.version,
        audience=broadcast.audience,
        context=context,
        topic=broadcast.topic,
        cells=cells,
        coefficients=split_coefficients(secret, broadcast.name),
        secret=secret,
        domain=settings.sender.domain,
        cap=cap,
    )
