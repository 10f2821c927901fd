"""The single customer view as tables: customers, consent history, orders, events, suppressions.

Money is stored in minor units of a currency (cents) as integers: exact, fast to sum and index.
Per-customer figures that audiences read often (orders count, total spent, first and last order)
live on the customer row and are refreshed by the store whenever that customer's orders change;
so do the predicted figures (churn risk, next order, value, best hour), written by the nightly
prediction job (NULL: not predicted yet). Figures of the shop as a whole are in `shop_figures`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime, json_type

CONSENT_STATUSES = ("granted", "withdrawn", "pending", "unknown")
ORDER_CHANNELS = ("online", "store")
ORDER_STATUSES = (
    "placed",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "returned",
)
# Orders in these states do not count towards a customer's figures.
UNCOUNTED_ORDER_STATUSES = ("cancelled", "returned")
SUPPRESSION_REASONS = ("hard-bounce", "complaint", "unsubscribe", "manual", "forgotten")


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Customer(SQLModel, table=True):
    """One person the shop knows, online or in store, keyed by e-mail address (lower case)."""

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_consent_last_order", "consent_status", "last_order_at"),
        Index("ix_customer_consent_total_spent", "consent_status", "total_spent_minor"),
        Index("ix_customer_consent_spent_365d", "consent_status", "spent_365d_minor"),
        # Top-N % rankings find their threshold through these.
        Index("ix_customer_spent_365d", "spent_365d_minor"),
        Index("ix_customer_total_spent", "total_spent_minor"),
        Index("ix_customer_birthday_md", "birthday_md"),
        Index("ix_customer_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    # sha256 of the lower-cased address: joins with the suppression list without the address.
    email_hash: str = Field(max_length=64, index=True)
    # Indexed for the studio's search by name (a prefix is a range over the index).
    first_name: str | None = Field(default=None, max_length=100, index=True)
    last_name: str | None = Field(default=None, max_length=100, index=True)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    birthday: date | None = None
    # month * 100 + day of the birthday, kept by the store: yearly triggers match it by index.
    birthday_md: int | None = None
    zip: str | None = Field(default=None, max_length=20, index=True)
    city: str | None = Field(default=None, max_length=100, index=True)
    country: str | None = Field(default=None, max_length=2)
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    consent_status: str = Field(default="unknown", max_length=16)
    consent_updated_at: datetime | None = _utc_column()
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    forgotten_at: datetime | None = _utc_column()
    orders_count: int = 0
    total_spent_minor: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0")
    )
    first_order_at: datetime | None = _utc_column()
    last_order_at: datetime | None = _utc_column(index=True)
    # Spend over the 365 days before `figures_as_of`, refreshed when orders land and daily.
    spent_365d_minor: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0")
    )
    figures_as_of: datetime | None = _utc_column()
    # Predicted by the nightly job from the customer's orders (and opens and clicks for the
    # hour); all NULL until it first ran for them. `churn_risk` is 1 - `p_active`.
    p_active: float | None = None
    churn_risk: float | None = Field(default=None, index=True)
    expected_orders_90d: float | None = None
    predicted_next_order_at: datetime | None = _utc_column(index=True)
    predicted_value_365d_minor: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    best_send_hour: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    predicted_at: datetime | None = _utc_column()


class ShopFigure(SQLModel, table=True):
    """One figure of the shop as a whole, by name (`best_send_hour`), as the nightly job left it."""

    __tablename__ = "shop_figures"

    key: str = Field(max_length=60, primary_key=True)
    value: Any = Field(sa_column=Column(json_type(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ConsentRecord(SQLModel, table=True):
    """One change of consent, kept as proof (GDPR Art. 7): when, how, from where, what was shown."""

    __tablename__ = "consent_record"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    purpose: str = Field(default="marketing", max_length=40)
    status: str = Field(max_length=16)
    source: str = Field(max_length=60)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ip: str | None = Field(default=None, max_length=45)
    wording: str | None = None


class Order(SQLModel, table=True):
    """An order from any channel; `base_amount_minor` is its amount in the shop's currency."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_placed", "customer_id", "placed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=100, unique=True)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    )
    channel: str = Field(max_length=16)
    store_location: str | None = Field(default=None, max_length=100)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    base_amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="placed", max_length=16)
    items: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(json_type(), nullable=False)
    )
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    shipped_at: datetime | None = _utc_column()
    expected_ship_date: date | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Event(SQLModel, table=True):
    """Something that happened to a customer (`order.placed`, a custom event), raw data kept.

    Insert-only: the engine's work queue is `EventPending`, so working an event never
    rewrites its row (nor its index entries)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_type_occurred", "type", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True),
    )
    type: str = Field(max_length=100)
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    idempotency_key: str | None = Field(
        default=None, sa_column=Column(String(200), unique=True, nullable=True)
    )


class EventPending(SQLModel, table=True):
    """An event the engine has not yet enrolled (or not) on: its work queue, oldest id first.

    `store.events` adds the row with the event, in the same statement where it can; working
    the event deletes the row."""

    __tablename__ = "event_pending"

    event_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("event.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )


class Suppression(SQLModel, table=True):
    """An address never to be mailed again, kept as a hash so it outlives the customer's data."""

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(max_length=64, unique=True)
    reason: str = Field(max_length=20)
    detail: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# `paused`: a broadcast's mail held by `mailengine broadcast pause` until it resumes.
OUTBOX_STATES = ("queued", "sending", "sent", "deferred", "paused", "failed", "suppressed")
MESSAGE_KINDS = ("marketing", "transactional", "autoreply")


class OutboxMessage(SQLModel, table=True):
    """One planned e-mail to one customer: committed before any SMTP traffic, then tracked.

    `idempotency_key` is unique per (workflow, step, customer, occurrence), so planning the
    same send twice stores one row. `message_id` is fixed when planned: a message resent after
    a crash carries the same Message-ID.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=300, unique=True)
    kind: str = Field(default="marketing", max_length=16)
    workflow: str = Field(max_length=100, index=True)
    workflow_version: str | None = Field(default=None, max_length=64)
    step: str = Field(max_length=60)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="SET NULL"), index=True),
    )
    recipient: str = Field(max_length=320)
    template: str = Field(max_length=200)
    subject: str = Field(max_length=1000)
    preheader: str | None = Field(default=None, max_length=1000)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    message_id: str = Field(max_length=255, unique=True)
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_at: datetime | None = _utc_column()
    claimed_by: str | None = Field(default=None, max_length=64)
    last_code: int | None = None
    last_reply: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = _utc_column()


class Coupon(SQLModel, table=True):
    """A single-use code made for one customer and one send; the shop looks it up at the till."""

    __tablename__ = "coupon"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="SET NULL"), index=True),
    )
    outbox_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="SET NULL"), unique=True),
    )
    percent: int | None = None
    amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    redeemed_at: datetime | None = _utc_column()
    redeemed_order: str | None = Field(default=None, max_length=100)
    redeemed_channel: str | None = Field(default=None, max_length=16)


ENROLLMENT_STATES = ("active", "completed", "exited", "failed")


class WorkflowVersion(SQLModel, table=True):
    """The source of every workflow version customers were enrolled in.

    Customers finish the version they entered, even after the file changed or the engine
    restarted: the engine rebuilds old versions from this text.
    """

    __tablename__ = "workflow_version"

    name: str = Field(max_length=100, primary_key=True)
    version: str = Field(max_length=64, primary_key=True)
    path: str = Field(max_length=500)
    source: str
    loaded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Enrollment(SQLModel, table=True):
    """One customer going through one workflow once: where they are and when to look again.

    Unique per (workflow, customer, occurrence): the occurrence names what enrolled them (an
    event id, a schedule's fire time, a year), so each trigger enrolls exactly once.
    """

    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("workflow", "customer_id", "occurrence", name="uq_enrollment_once"),
        Index("ix_enrollment_due", "state", "next_run_at", "id"),
        Index("ix_enrollment_customer", "customer_id", "workflow", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=100)
    workflow_version: str = Field(max_length=64)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    )
    occurrence: str = Field(max_length=100)
    state: str = Field(default="active", max_length=16)
    step_id: str | None = Field(default=None, max_length=60)
    next_run_at: datetime | None = _utc_column()
    holdout: bool = False
    # What enrolled them (an event's data, e.g. the order), handed to every send's template.
    trigger_data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(json_type(), nullable=False)
    )
    entered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _utc_column()
    note: str | None = Field(default=None, max_length=500)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _utc_column()


# The tables of the web, inbound, workflow-file and studio parts live in modules of their own;
# importing them here puts every table on SQLModel.metadata wherever the models are loaded.
from mailengine.store import (  # noqa: E402, F401
    broadcast_models,
    desk_models,
    inbound_models,
    poll_models,
    studio_models,
    web_models,
    workflow_file_models,
)
