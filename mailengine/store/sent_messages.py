"""A sent message as its outbox row keeps it: what its hosted copy (view in browser) is
rendered from again, on demand. Nothing of the rendered mail is stored.

It imports only the store's own modules and the shared vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailengine.store.coupons import IssuedCoupon, coupon_of_send
from mailengine.store.outbox import outbox_table
from mailengine.store.recipients import RecipientSnapshot, load_recipients_of
from mailengine.store.records import ClaimedSend


@dataclass(frozen=True)
class SentMessage:
    """One sent outbox row: the send, who it went to (None: no longer a customer, or a
    stranger), its coupon, and when it was composed (its last claim)."""

    send: ClaimedSend
    recipient: RecipientSnapshot | None
    coupon: IssuedCoupon | None
    composed_at: datetime


def sent_message(session: Session, outbox_id: int) -> SentMessage | None:
    """The row of a message that was sent, or None (unknown, or not sent)."""
    o = outbox_table.c
    columns = [o[field.name] for field in fields(ClaimedSend)]
    row = session.execute(
        select(*columns, o.claimed_at, o.sent_at).where(o.id == outbox_id, o.state == "sent")
    ).first()
    if row is None:
        return None
    values = row._mapping
    send = ClaimedSend(**{field.name: values[field.name] for field in fields(ClaimedSend)})
    recipient = (
        load_recipients_of(session, [send]).get(send.customer_id)
        if send.customer_id is not None
        else None
    )
    composed_at = values["claimed_at"] or values["sent_at"] or send.created_at
    return SentMessage(send, recipient, coupon_of_send(session, outbox_id), composed_at)
