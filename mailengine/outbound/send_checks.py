"""Send-time checks of a claimed batch: who may still get their message (consent,
suppression, opt-outs, the caller's own hold), checked when it goes, not when it was
planned; and the coupons of those who may, and the stored template sources of those that
render a stored version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.render.template_sources import TemplateSources
from mailengine.store.broadcast_outbox import hold_claimed, stopped_broadcasts
from mailengine.store.broadcast_runs import CANCELLED_REPLY
from mailengine.store.coupons import CouponOffer, IssuedCoupon, issue_for_send
from mailengine.store.privacy import opted_out_topics
from mailengine.store.recipients import RecipientSnapshot, load_recipients_of, suppressions_of
from mailengine.store.records import ClaimedSend
from mailengine.store.suppressions import blocks
from mailengine.store.workflow_files import template_versions


@dataclass
class Checked:
    """What the database says about a claimed batch at send time."""

    recipients: dict[int, RecipientSnapshot]
    coupons: dict[int, IssuedCoupon]
    strangers: dict[str, str]  # address of a non-customer -> suppression reason
    opted_out: dict[int, set[str]]  # customer id -> workflows they asked not to get
    verdicts: dict[int, str | None] = field(default_factory=dict)  # outbox id -> why not
    held: set[int] = field(default_factory=set)  # of a paused broadcast: back in the outbox
    templates: dict[str, TemplateSources] = field(default_factory=dict)  # digest -> sources

    def template(self, send: ClaimedSend) -> TemplateSources | None:
        """The stored sources the send renders, or None: the templates folder's."""
        digest = send.template_version
        return self.templates.get(digest) if digest is not None else None

    def recipient(self, send: ClaimedSend) -> RecipientSnapshot:
        """The customer, or a stranger (an autoreply to someone who is not a customer)."""
        customer = self.recipients.get(send.customer_id) if send.customer_id is not None else None
        return customer if customer is not None else stranger_recipient(send)


def check_at_send_time(
    session: Session,
    claimed: Sequence[ClaimedSend],
    now: datetime,
    may_send: Callable[[ClaimedSend], str | None] | None = None,
    *,
    worker: str,
) -> Checked:
    """`read_send_time_checks` and `store_send_time_writes` in the caller's session."""
    checked = read_send_time_checks(session, claimed, now, may_send)
    store_send_time_writes(session, claimed, checked, now, worker=worker)
    return checked


def read_send_time_checks(
    session: Session,
    claimed: Sequence[ClaimedSend],
    now: datetime,
    may_send: Callable[[ClaimedSend], str | None] | None = None,
) -> Checked:
    """Load what the checks need and give each message its verdict (None: it may go),
    writing nothing: messages of a broadcast paused since they were planned are `held`; of
    one cancelled, their verdict drops them as the cancel does."""
    customer_ids = [s.customer_id for s in claimed if s.customer_id is not None]
    checked = Checked(
        recipients=load_recipients_of(session, claimed),
        coupons={},
        strangers=suppressions_of(session, (s.recipient for s in claimed if s.customer_id is None)),
        opted_out=opted_out_topics(session, customer_ids),
        templates=template_versions(
            session, {s.template_version for s in claimed if s.template_version is not None}
        ),
    )
    stopped = stopped_broadcasts(session, {s.workflow for s in claimed if s.kind == "marketing"})
    checked.held = {s.id for s in claimed if stopped.get(s.workflow) == "paused"}
    for send in claimed:
        if send.id in checked.held:
            continue
        cancelled = stopped.get(send.workflow) == "cancelled"
        checked.verdicts[send.id] = (
            CANCELLED_REPLY if cancelled else _verdict(send, checked, may_send)
        )
    return checked


def needs_writes(claimed: Sequence[ClaimedSend], checked: Checked) -> bool:
    """Whether `store_send_time_writes` has anything to store (held messages, coupons)."""
    return bool(checked.held) or any(True for _ in _coupon_offers(claimed, checked))


def store_send_time_writes(
    session: Session,
    claimed: Sequence[ClaimedSend],
    checked: Checked,
    now: datetime,
    *,
    worker: str,
) -> None:
    """Put the held messages back in the outbox (`worker`'s claims on them end) and issue
    the coupons of the messages that may go, into `checked.coupons`."""
    hold_claimed(session, worker, sorted(checked.held), now)
    for send, offer in _coupon_offers(claimed, checked):
        checked.coupons[send.id] = issue_for_send(
            session, send.id, send.customer_id, _offer(offer, now), now
        )


def _coupon_offers(
    claimed: Sequence[ClaimedSend], checked: Checked
) -> Iterator[tuple[ClaimedSend, dict[str, object]]]:
    """The messages that may go with a coupon to issue, and their offers (a held message has
    no verdict: none for it)."""
    for send in claimed:
        offer = send.payload.get("coupon")
        if offer and checked.verdicts.get(send.id, "held") is None:
            yield send, offer


def _verdict(
    send: ClaimedSend, loaded: Checked, may_send: Callable[[ClaimedSend], str | None] | None
) -> str | None:
    """Why this message must not go now, or None. Checked at send time, not at planning."""
    if send.customer_id is None:
        if send.kind == "marketing":
            return "marketing mail needs a customer with consent"
        reason = loaded.strangers.get(send.recipient)
        return f"address suppressed ({reason})" if blocks(reason, send.kind) else None
    recipient = loaded.recipients.get(send.customer_id)
    if recipient is None:
        return "the customer no longer exists"
    if recipient.forgotten:
        return "the customer asked to be forgotten"
    if blocks(recipient.suppression, send.kind):
        return f"address suppressed ({recipient.suppression})"
    if send.kind == "marketing" and recipient.consent_status != "granted":
        return f"no marketing consent at send time ({recipient.consent_status})"
    if send.kind == "marketing":
        topic = str(send.payload.get("topic") or send.workflow)
        if topic in loaded.opted_out.get(recipient.id, ()):
            return f"the customer opted out of {topic} mail"
    if may_send is not None:
        return may_send(send)
    return None


def _offer(offer: dict[str, object], now: datetime) -> CouponOffer:
    valid = timedelta(seconds=float(str(offer.get("valid_seconds", 14 * 86400))))
    percent = offer.get("percent")
    amount = offer.get("amount_minor")
    return CouponOffer(
        percent=int(str(percent)) if percent is not None else None,
        amount_minor=int(str(amount)) if amount is not None else None,
        currency=str(offer["currency"]) if offer.get("currency") else None,
        expires_at=now + valid,
    )


def stranger_recipient(send: ClaimedSend) -> RecipientSnapshot:
    """Someone who is not a customer (an autoreply to an unknown sender)."""
    return RecipientSnapshot(
        id=0,
        email=send.recipient,
        email_hash=address_hash(send.recipient),
        profile={},
        consent_status="unknown",
        forgotten=False,
        suppression=None,
    )
