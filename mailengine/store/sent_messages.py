"""A message as its outbox row keeps it: what its hosted copy (view in browser), and what the
studio shows of it, is rendered from again, on demand. Nothing of the rendered mail is stored.

It imports only the store's own modules and the shared vocabulary.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailengine.store.coupons import IssuedCoupon, coupons_of_sends
from mailengine.store.outbox import outbox_table
from mailengine.store.recipients import RecipientSnapshot, load_recipients_of
from mailengine.store.records import ClaimedSend


@dataclass(frozen=True)
class SentMessage:
    """One outbox row: the send, who it goes to (None: no longer a customer, or a stranger),
    its coupon, and when it was composed (its last claim; planned, if it is not `sent`)."""

    send: ClaimedSend
    recipient: RecipientSnapshot | None
    coupon: IssuedCoupon | None
    composed_at: datetime
    sent: bool = True


def sent_message(session: Session, outbox_id: int) -> SentMessage | None:
    """The row of a message that was sent, or None (unknown, or not sent)."""
    found = outbox_messages(session, [outbox_id]).get(outbox_id)
    return found if found is not None and found.sent else None


def outbox_messages(session: Session, outbox_ids: Collection[int]) -> dict[int, SentMessage]:
    """Outbox rows by id, in any state (the unknown ids left out): a sent one with the time it
    was composed, one not sent yet with the time it was planned."""
    if not outbox_ids:
        return {}
    o = outbox_table.c
    columns = [o[field.name] for field in fields(ClaimedSend)]
    rows = session.execute(
        select(*columns, o.state, o.claimed_at, o.sent_at).where(o.id.in_(sorted(outbox_ids)))
    ).all()
    sends = [
        (ClaimedSend(**{f.name: row._mapping[f.name] for f in fields(ClaimedSend)}), row)
        for row in rows
    ]
    recipients = load_recipients_of(session, [send for send, _ in sends])
    coupons = coupons_of_sends(session, [send.id for send, _ in sends])
    found: dict[int, SentMessage] = {}
    for send, row in sends:
        sent = row.state == "sent"
        composed_at = (
            (row.claimed_at or row.sent_at or send.created_at) if sent else send.created_at
        )
        recipient = recipients.get(send.customer_id) if send.customer_id is not None else None
        found[send.id] = SentMessage(send, recipient, coupons.get(send.id), composed_at, sent)
    return found
