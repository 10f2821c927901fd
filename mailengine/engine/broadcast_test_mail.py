"""A broadcast's test mail: each variant rendered for one customer and queued for the team.

`mailengine broadcast test NAME --to ADDRESS` renders every variant for a built-in sample
customer (or a customer of the database) and puts one message per variant and address into
the outbox, rendered as it is (payload `rendered`), to go with the next dispatch. The rows
never count as the broadcast's mail: their workflow is `broadcast-test:NAME` (reports count
`broadcast:NAME`); they are transactional, so the send-time consent check (made for
customers) does not drop mail to a colleague's address; each key holds a fresh UUID, so
testing again sends again; the coupon is a made-up code and nothing is tracked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailengine.addresses import (
    InvalidAddressError,
    address_hash,
    address_problem,
    normalize_email,
)
from mailengine.broadcasts.model import Broadcast, Variant
from mailengine.engine.broadcast_trials import broadcast_payload, with_broadcast
from mailengine.engine.render_trials import SAMPLE_SEED, made_up_coupon, sample_for_send
from mailengine.errors import MailengineError
from mailengine.message_ids import make_message_id
from mailengine.outbound import Composer
from mailengine.render.context import (
    CouponContext,
    CouponData,
    SenderContext,
    SenderData,
    coupon_context,
    links_context,
    sender_context,
)
from mailengine.render.library import RenderedEmail
from mailengine.render.sample_data import sample_contexts
from mailengine.store.customers import get_customer
from mailengine.store.database import Database
from mailengine.store.outbox import plan_sends
from mailengine.store.recipients import RecipientSnapshot, load_recipients
from mailengine.store.records import RENDERED, PlannedSend
from mailengine.workflows.guarantees import guaranteed_by_audience

SUBJECT_PREFIX = "[Test] "
TEST_CODE = "TEST-CODE"
SAMPLE_CUSTOMERS = 20  # the built-in sample customers `validate` tries, by the same numbers


@dataclass(frozen=True)
class QueuedTest:
    """One test message put into the outbox."""

    variant: str
    address: str
    customer: str  # whose data it shows: "sample customer 3", or their address
    subject: str
    idempotency_key: str


def workflow_of_tests(broadcast: Broadcast) -> str:
    """The outbox `workflow` of a broadcast's test mail: never the broadcast's own."""
    return f"broadcast-test:{broadcast.name}"


def queue_test_mail(
    composer: Composer,
    database: Database,
    broadcast: Broadcast,
    addresses: Sequence[str],
    now: datetime,
    customer_email: str | None = None,
) -> list[QueuedTest]:
    """Render each variant for the customer (a sample one without `customer_email`), once
    for every address, and queue the messages; a template that fails for them fails the
    whole test before anything is queued (RenderError names the place)."""
    recipients = [_address(address) for address in addresses]
    customer: RecipientSnapshot | None = None
    if customer_email is not None:
        customer = _customer(database, customer_email)
    sample_number, sample = (0, {}) if customer is not None else _sample(broadcast, now)
    who = customer.email if customer is not None else f"sample customer {sample_number}"
    coupon = made_up_coupon(broadcast.coupon, composer.settings.currency, TEST_CODE, now)
    queued: list[QueuedTest] = []
    sends: list[PlannedSend] = []
    for variant in broadcast.test_variants():
        payload = broadcast_payload(broadcast, variant)
        for address in recipients:
            links = composer.links(address_hash(address), now)
            if customer is not None:
                context = composer.context(customer, now, coupon, payload, links)
            else:
                context = with_broadcast(sample, broadcast, variant)
                context["links"] = links_context(links)
                context["sender"] = _shop_sender(composer)
                context["coupon"] = _test_coupon(broadcast, composer.settings.currency, now)
                # Prices are the shop's: a sample customer's made-up currency would misprint them.
                context["customer"] = {**sample["customer"], "currency": composer.settings.currency}
            rendered = composer.library.render(
                variant.template, context, subject=variant.subject, preheader=variant.preheader
            )
            send = _planned(composer, broadcast, variant, address, rendered)
            sends.append(send)
            queued.append(
                QueuedTest(variant.name, address, who, send.subject, send.idempotency_key)
            )
    with database.transaction() as session:
        plan_sends(session, sends, now)
    return queued


def _planned(
    composer: Composer, broadcast: Broadcast, variant: Variant, address: str, mail: RenderedEmail
) -> PlannedSend:
    key = f"{workflow_of_tests(broadcast)}:{variant.name}:{uuid.uuid4().hex}"
    subject = SUBJECT_PREFIX + mail.subject
    payload: dict[str, Any] = {
        **broadcast_payload(broadcast, variant),
        "tracking": False,
        "test": True,
        RENDERED: {
            "subject": subject,
            "preheader": mail.preheader,
            "html": mail.html,
            "text": mail.text,
        },
    }
    return PlannedSend(
        idempotency_key=key,
        workflow=workflow_of_tests(broadcast),
        workflow_version=broadcast.version,
        step=variant.name,
        customer_id=None,
        recipient=address,
        template=variant.template,
        subject=subject,
        preheader=variant.preheader,
        message_id=make_message_id(composer.settings.sender.domain),
        kind="transactional",
        payload=payload,
    )


def _address(raw: str) -> str:
    try:
        address = normalize_email(raw)
    except InvalidAddressError as error:
        raise MailengineError(f"--to {raw}: {error}") from None
    problem = address_problem(address)
    if problem is not None:
        raise MailengineError(f"--to {raw}: {problem}")
    return address


def _customer(database: Database, email: str) -> RecipientSnapshot:
    try:
        address = normalize_email(email)
    except InvalidAddressError as error:
        raise MailengineError(f"--customer {email}: {error}") from None
    with database.session() as session:
        found = get_customer(session, address)
        if found is None or found.id is None:
            raise MailengineError(f"no customer has the address {email}")
        return load_recipients(session, [found.id])[found.id]


def _sample(broadcast: Broadcast, now: datetime) -> tuple[int, dict[str, Any]]:
    """The first built-in sample customer the broadcast's audience may hold."""
    present = guaranteed_by_audience(broadcast.audience)
    samples = sample_contexts(SAMPLE_CUSTOMERS, seed=SAMPLE_SEED, now=now)
    for number, sample in enumerate(samples, 1):
        shaped = sample_for_send(sample, broadcast.coupon, present, now)
        if shaped is not None:
            return number, dict(shaped)
    raise MailengineError(
        f"no sample customer fits the audience of {broadcast.name} "
        f"({', '.join(sorted(present))}): test with --customer EMAIL"
    )


def _test_coupon(broadcast: Broadcast, currency: str, now: datetime) -> CouponContext | None:
    """The broadcast's coupon with a code no customer can use, as a sample's mail has it."""
    offer = broadcast.coupon
    if offer is None:
        return None
    return coupon_context(
        CouponData(
            code=TEST_CODE,
            expires_at=now + offer.valid_for,
            percent=offer.percent,
            amount=offer.amount,
            currency=currency if offer.amount is not None else None,
        )
    )


def _shop_sender(composer: Composer) -> SenderContext:
    sender = composer.settings.sender
    return sender_context(SenderData(sender.from_name, sender.from_address, sender.postal_address))
