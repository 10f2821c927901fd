"""Tables of the HTTP side: stored API answers, tracked links and their events, mail preferences.

`tracked_link` gives every link of a sent message a public key that is unguessable and never
carries the target in the URL (no open redirect); a row without a URL is the message's open
pixel. It holds the links of mail sent before `link_list`: a message's tracked links in order,
stored once for every message with the same list, behind keys that are signed rather than
stored (`outbound.tracking_links`).
`tracking_event` records what happened after a send (open, click, bounce, complaint,
unsubscribe) against its outbox row; reports count from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime, json_type

TRACKING_KINDS = ("open", "click", "bounce", "complaint", "unsubscribe")


class ApiRequest(SQLModel, table=True):
    """A request made with an Idempotency-Key, and the answer given, replayed on a retry."""

    __tablename__ = "api_request"
    __table_args__ = (UniqueConstraint("client", "idempotency_key", name="uq_api_request_key"),)

    id: int | None = Field(default=None, primary_key=True)
    # sha256 hex of the API key that made the request: keys of different clients never meet.
    client: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=200)
    endpoint: str = Field(max_length=100)
    request_hash: str = Field(max_length=64)
    status_code: int = 0
    response: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    # The customer the request was about: `forget` deletes these rows with the customer's data.
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True),
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class TrackedLink(SQLModel, table=True):
    """A link in one sent message (or, without a URL, its open pixel), found by its key."""

    __tablename__ = "tracked_link"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32, unique=True)
    outbox_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    url: str | None = Field(default=None, max_length=2000)
    position: int = 0


class LinkListRecord(SQLModel, table=True):
    """The tracked links of messages, in order, under the digest of the list."""

    __tablename__ = "link_list"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=12, unique=True)
    urls: list[str] = Field(default_factory=list, sa_column=Column(json_type(), nullable=False))
    # The one customer whose mail carries the list (its links may be made for them); None
    # once another customer's mail carries it too.
    customer_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TrackingEvent(SQLModel, table=True):
    """Something that happened after a send: opened, clicked, bounced, complained, unsubscribed."""

    __tablename__ = "tracking_event"
    __table_args__ = (Index("ix_tracking_event_outbox_kind", "outbox_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=16)
    link_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("tracked_link.id", ondelete="SET NULL")),
    )
    # A click on a link of a link list: the list and the link's place in it. No foreign key:
    # adding one would copy the whole table on SQLite; a list erased with its customer leaves
    # an id that finds nothing.
    link_list_id: int | None = None
    link_position: int | None = None
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class MailPreference(SQLModel, table=True):
    """A customer's choice to keep or stop one kind of marketing mail (a topic)."""

    __tablename__ = "mail_preference"
    __table_args__ = (
        UniqueConstraint("customer_id", "topic", name="uq_mail_preference_customer_topic"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    )
    topic: str = Field(sa_column=Column(String(100), nullable=False))
    subscribed: bool = True
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
