"""Tables of the inbound side: every received message (raw), support tickets, bounces.

`inbound_message` keeps each message exactly as it arrived, committed before the SMTP `250`
or before the IMAP `\\Seen` flag: a crash never loses one, and its `state` says whether the
pipeline has acted on it. `ticket_thread` remembers every Message-ID that belongs to a ticket
(the customer's messages and our replies), so a reply joins its conversation by In-Reply-To.
The support desk's notes and replies are in `desk_models`.
`support_sender` holds, per sender address hash, when we last acknowledged them: at most one
automatic acknowledgement per sender per window. `bounce` counts what bounces and complaints
said about an address (hard, soft, complaint), kept as a hash like the suppression list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime, json_type

INBOUND_SOURCES = ("smtp", "imap")
# received: stored, not yet acted on; processed: acted on (or deliberately not);
# over_limit: broke a parsing cap, kept and never answered; duplicate: a message seen before;
# failed: acting on it failed repeatedly, a person should look.
INBOUND_STATES = ("received", "processed", "over_limit", "duplicate", "failed")
# open: waiting for an answer from us; pending: answered, waiting for the customer.
TICKET_STATES = ("open", "pending", "closed")
BOUNCE_KINDS = ("hard", "soft", "complaint")


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Ticket(SQLModel, table=True):
    """One support conversation; its reference is `T-<id>` (see `ticket_reference`)."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_customer_state", "customer_id", "state"),
        Index("ix_ticket_address_state", "address", "state"),
        Index("ix_ticket_state_last_message", "state", "last_message_at"),
        Index("ix_ticket_state_awaiting", "state", "awaiting_since"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="SET NULL"), nullable=True),
    )
    address: str = Field(max_length=320)
    subject: str = Field(default="", max_length=1000)
    state: str = Field(default="open", max_length=8)
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = _utc_column()
    last_message_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_at: datetime | None = _utc_column()
    # The support desk: who answers it, since when the customer waits for a person (the
    # oldest of their messages nobody answered yet), and when a person first answered.
    assignee_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("studio_user.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    awaiting_since: datetime | None = _utc_column()
    first_response_at: datetime | None = _utc_column()


class InboundMail(SQLModel, table=True):
    """One received message, raw bytes and all, and what the pipeline made of it."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        Index("ix_inbound_message_state", "state", "id"),
        Index("ix_inbound_message_message_id", "message_id", "from_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=8)
    envelope_from: str | None = Field(default=None, max_length=1000)
    envelope_to: list[str] = Field(
        default_factory=list, sa_column=Column(json_type(), nullable=False)
    )
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    size: int = 0
    # sha256 hex of the raw bytes: the same message delivered twice is stored once.
    sha256: str = Field(max_length=64, unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    message_id: str | None = Field(default=None, max_length=255)
    from_address: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=1000)
    classification: str | None = Field(default=None, max_length=16)
    rules: list[str] = Field(default_factory=list, sa_column=Column(json_type(), nullable=False))
    state: str = Field(default="received", max_length=16)
    attempts: int = 0
    ticket_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    error: str | None = Field(default=None, max_length=1000)
    processed_at: datetime | None = _utc_column()


class TicketThread(SQLModel, table=True):
    """A Message-ID that belongs to a ticket: a customer's message or a reply we planned."""

    __tablename__ = "ticket_thread"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=255, unique=True)
    ticket_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class SupportSender(SQLModel, table=True):
    """When a sender (by address hash) was last acknowledged automatically."""

    __tablename__ = "support_sender"

    address_hash: str = Field(max_length=64, primary_key=True)
    last_acknowledged_at: datetime | None = _utc_column()
    acknowledgements: int = 0


class BounceRecord(SQLModel, table=True):
    """What one bounce or complaint said about one address; one row per message and address."""

    __tablename__ = "bounce"
    __table_args__ = (
        UniqueConstraint("inbound_message_id", "address_hash", name="uq_bounce_message_address"),
        Index("ix_bounce_address_kind", "address_hash", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    inbound_message_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("inbound_message.id", ondelete="CASCADE"), nullable=False
        )
    )
    address_hash: str = Field(max_length=64)
    outbox_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("outbox.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    kind: str = Field(max_length=16)
    status: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=40)
    diagnostic: str | None = Field(default=None, max_length=1000)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def ticket_reference(ticket_id: int) -> str:
    """The reference customers see in subjects: `T-42`."""
    return f"T-{ticket_id}"
