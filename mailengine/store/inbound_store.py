"""Queries of the inbound side: received messages, bounces and the sends they name.

Every write here is idempotent where the pipeline may repeat it after a crash: a raw message
is stored once per sha256 and a bounce is counted once per message and address. Tickets are
in `mailengine.store.tickets`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.inbound_models import (
    BounceRecord,
    InboundMail,
    SupportSender,
    Ticket,
    TicketThread,
)
from mailengine.store.outbox import outbox_table

inbound_table = InboundMail.__table__  # type: ignore[attr-defined]
ticket_table = Ticket.__table__  # type: ignore[attr-defined]
thread_table = TicketThread.__table__  # type: ignore[attr-defined]
sender_table = SupportSender.__table__  # type: ignore[attr-defined]
bounce_table = BounceRecord.__table__  # type: ignore[attr-defined]

_MAX_ID = 255


@dataclass(frozen=True)
class StoredRaw:
    """Where a received message was stored; `created` is False for a copy of a stored one."""

    id: int
    created: bool


@dataclass(frozen=True)
class ReceivedMessage:
    """A stored message as the pipeline reads it back."""

    id: int
    source: str
    envelope_from: str | None
    envelope_to: tuple[str, ...]
    received_at: datetime
    raw: bytes
    state: str
    attempts: int


@dataclass(frozen=True)
class SentMessage:
    """An outbox row a bounce or complaint refers to."""

    id: int
    recipient: str
    state: str


def insert_for(session: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    dialect = session.get_bind().dialect.name
    return postgresql.Insert if dialect == "postgresql" else sqlite.Insert


# Raw messages


def store_raw(
    session: Session,
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None,
    envelope_to: Sequence[str],
    now: datetime,
) -> StoredRaw:
    """Keep a received message; the same bytes arriving again return the stored row."""
    digest = hashlib.sha256(raw).hexdigest()
    statement = (
        insert_for(session)(inbound_table)
        .values(
            source=source,
            envelope_from=None if envelope_from is None else safe_text(envelope_from)[:1000],
            envelope_to=list(envelope_to),
            received_at=now,
            size=len(raw),
            sha256=digest,
            raw=raw,
            rules=[],
            state="received",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(inbound_table.c.id)
    )
    created = session.execute(statement).scalar_one_or_none()
    if created is not None:
        return StoredRaw(int(created), True)
    existing = session.execute(
        select(inbound_table.c.id).where(inbound_table.c.sha256 == digest)
    ).scalar_one()
    return StoredRaw(int(existing), False)


def received_ids(session: Session, limit: int) -> list[int]:
    """Messages stored but not yet acted on, oldest first (the pipeline's work queue)."""
    i = inbound_table.c
    statement = select(i.id).where(i.state == "received").order_by(i.id).limit(limit)
    return [int(value) for value in session.execute(statement).scalars()]


def load_received(session: Session, inbound_id: int) -> ReceivedMessage | None:
    i = inbound_table.c
    row = session.execute(
        select(
            i.id,
            i.source,
            i.envelope_from,
            i.envelope_to,
            i.received_at,
            i.raw,
            i.state,
            i.attempts,
        ).where(i.id == inbound_id)
    ).first()
    if row is None:
        return None
    return ReceivedMessage(
        id=row.id,
        source=row.source,
        envelope_from=row.envelope_from,
        envelope_to=tuple(row.envelope_to or ()),
        received_at=row.received_at,
        raw=bytes(row.raw),
        state=row.state,
        attempts=row.attempts,
    )


def claim_received(session: Session, inbound_id: int) -> bool:
    """Take a `received` message for this transaction; False if another worker acted on it.

    The row stays locked (PostgreSQL) or the database write-locked (SQLite) until the
    transaction ends, so the message is acted on once.
    """
    i = inbound_table.c
    result = session.execute(
        update(inbound_table)
        .where(i.id == inbound_id, i.state == "received")
        .values(attempts=i.attempts + 1)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def finish_received(
    session: Session,
    inbound_id: int,
    *,
    state: str,
    now: datetime,
    message_id: str | None,
    from_address: str | None,
    subject: str,
    classification: str | None,
    rules: Sequence[str],
    ticket_id: int | None = None,
    error: str | None = None,
) -> None:
    session.execute(
        update(inbound_table)
        .where(inbound_table.c.id == inbound_id)
        .values(
            state=state,
            processed_at=now,
            message_id=usable_message_id(message_id),
            from_address=_clipped(from_address, 320),
            subject=safe_text(subject)[:1000],
            classification=classification,
            rules=list(rules),
            ticket_id=ticket_id,
            error=_clipped(error, 1000),
        )
    )


def note_failure(session: Session, inbound_id: int, error: str, give_up: bool) -> None:
    """Record why acting on a message failed; after the last try it is `failed` for good."""
    i = inbound_table.c
    session.execute(
        update(inbound_table)
        .where(i.id == inbound_id, i.state == "received")
        .values(
            attempts=i.attempts + 1,
            error=_clipped(error, 1000),
            state="failed" if give_up else "received",
        )
    )


def earlier_copy(
    session: Session, inbound_id: int, message_id: str | None, from_address: str | None
) -> tuple[int, int | None] | None:
    """(id, ticket id) of an earlier message with the same Message-ID from the same sender."""
    usable = usable_message_id(message_id)
    if usable is None or not from_address:
        return None
    i = inbound_table.c
    row = session.execute(
        select(i.id, i.ticket_id)
        .where(
            i.message_id == usable,
            i.from_address == from_address,
            i.id < inbound_id,
            i.state != "received",
        )
        .order_by(i.id)
        .limit(1)
    ).first()
    return (int(row.id), row.ticket_id) if row is not None else None


def count_by_state(session: Session) -> dict[str, int]:
    i = inbound_table.c
    statement = select(i.state, func.count()).group_by(i.state)
    return {state: int(count) for state, count in session.execute(statement)}


# Bounces and complaints


def sent_message(session: Session, outbox_id: int) -> SentMessage | None:
    """The outbox row a genuine VERP bounce address names."""
    o = outbox_table.c
    row = session.execute(select(o.id, o.recipient, o.state).where(o.id == outbox_id)).first()
    return SentMessage(row.id, row.recipient, row.state) if row is not None else None


def sent_to(session: Session, message_id: str | None, recipient: str) -> SentMessage | None:
    """The send with this Message-ID, if it went to `recipient` (a normalised address).

    A report that names both proves it is about our own mail; a Message-ID alone does not,
    nor does an address alone.
    """
    usable = usable_message_id(message_id)
    if usable is None:
        return None
    o = outbox_table.c
    row = session.execute(
        select(o.id, o.recipient, o.state).where(o.message_id == usable, o.recipient == recipient)
    ).first()
    return SentMessage(row.id, row.recipient, row.state) if row is not None else None


def sent_to_address(session: Session, message_ids: Sequence[str], address: str) -> bool:
    """Whether any of these Message-IDs is one of ours sent to `address` (a normalised one)."""
    usable = [found for found in map(usable_message_id, message_ids) if found is not None]
    if not usable:
        return False
    o = outbox_table.c
    statement = select(o.id).where(o.message_id.in_(usable), o.recipient == address).limit(1)
    return session.execute(statement).first() is not None


def mark_send_bounced(session: Session, outbox_id: int, reply: str, now: datetime) -> bool:
    """A send that bounced after it was accepted: `failed`, with what the bounce said."""
    o = outbox_table.c
    result = session.execute(
        update(outbox_table)
        .where(o.id == outbox_id, o.state.in_(("sent", "sending", "deferred", "queued")))
        .values(state="failed", last_reply=safe_text(reply)[:1000], updated_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def record_bounce(
    session: Session,
    *,
    inbound_id: int,
    address: str,
    kind: str,
    now: datetime,
    outbox_id: int | None = None,
    status: str | None = None,
    reason: str = "",
    diagnostic: str = "",
) -> bool:
    """Count what a report said about an address; False if this message was counted before."""
    statement = (
        insert_for(session)(bounce_table)
        .values(
            inbound_message_id=inbound_id,
            address_hash=address_hash(address),
            outbox_id=outbox_id,
            kind=kind,
            status=_clipped(status, 16),
            reason=safe_text(reason)[:40],
            diagnostic=_clipped(diagnostic, 1000),
            occurred_at=now,
        )
        .on_conflict_do_nothing(index_elements=["inbound_message_id", "address_hash"])
        .returning(bounce_table.c.id)
    )
    return session.execute(statement).first() is not None


def bounce_counts(session: Session, address: str) -> dict[str, int]:
    """How many hard, soft bounces and complaints were reported for an address."""
    b = bounce_table.c
    statement = (
        select(b.kind, func.count()).where(b.address_hash == address_hash(address)).group_by(b.kind)
    )
    return {kind: int(count) for kind, count in session.execute(statement)}


def safe_text(value: str) -> str:
    """Text from a received message as a database takes it: PostgreSQL refuses NUL in text
    and JSON, and no driver encodes the lone surrogates a broken header can decode to."""
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _clipped(value: str | None, length: int) -> str | None:
    return safe_text(value)[:length] or None if value else None


def usable_message_id(message_id: str | None) -> str | None:
    """A Message-ID short enough to store and match, else None (such ids are not threaded)."""
    if not message_id or len(message_id) > _MAX_ID or safe_text(message_id) != message_id:
        return None
    return message_id
