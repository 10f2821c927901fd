"""Plain records handed to the store: what an import row, an API call or demo data wants stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class ConsentStatement:
    """A customer's yes or no to marketing mail, with the proof GDPR Art. 7 asks for."""

    status: str
    source: str
    recorded_at: datetime
    ip: str | None = None
    wording: str | None = None
    purpose: str = "marketing"


@dataclass(frozen=True)
class CustomerUpsert:
    """Profile fields to set on the customer with this (normalised) e-mail address.

    `fields` holds only the columns the source provided; others keep their stored values.
    `attributes` are merged into the stored ones key by key.
    """

    email: str
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    consent: ConsentStatement | None = None


@dataclass(frozen=True)
class OrderUpsert:
    """An order keyed by its external id (the shop system's own order number)."""

    external_id: str
    email: str
    channel: str
    amount_minor: int
    currency: str
    base_amount_minor: int
    placed_at: datetime
    status: str = "placed"
    items: list[dict[str, Any]] = field(default_factory=list)
    store_location: str | None = None
    shipped_at: datetime | None = None
    expected_ship_date: date | None = None


@dataclass
class UpsertOutcome:
    """How many records were inserted or updated, and which failed in the database."""

    inserted: int = 0
    updated: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # index in the batch -> reason
    customer_ids: dict[str, int] = field(default_factory=dict)  # email -> id


@dataclass(frozen=True)
class PlannedSend:
    """A message to put in the outbox; the key makes planning it twice a no-op."""

    idempotency_key: str
    workflow: str
    step: str
    customer_id: int | None
    recipient: str
    template: str
    subject: str
    message_id: str
    kind: str = "marketing"
    workflow_version: str | None = None
    preheader: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None
    # A control-group member: recorded (for the report's lift) but never sent.
    held_out: bool = False


@dataclass(frozen=True)
class ClaimedSend:
    """An outbox row this dispatcher now owns, with what the send-time checks found."""

    id: int
    idempotency_key: str
    kind: str
    workflow: str
    step: str
    customer_id: int | None
    recipient: str
    template: str
    subject: str
    preheader: str | None
    payload: dict[str, Any]
    message_id: str
    attempts: int
    created_at: datetime

    @property
    def order_about(self) -> str | None:
        """The external id of the order this send is about (see `order_about`)."""
        return order_about(self.payload)

    @property
    def template_version(self) -> str | None:
        """The digest of the stored template sources to render (see TEMPLATE_VERSION)."""
        digest = self.payload.get(TEMPLATE_VERSION)
        return digest if isinstance(digest, str) and digest else None


TEMPLATE_VERSION = "template_version"
"""The payload key naming the stored sources (`template_version.digest`) a send renders: set
when it was planned by a stored version running in place of a broken workflow file."""


def order_about(payload: dict[str, Any]) -> str | None:
    """The order a send is about, by external id: the payload's `order` when its planner
    named one (a support acknowledgement names the customer's latest order), else the order
    in its trigger's data, as the API's `order.placed` carries it (`external_id`, or `order`
    in a hand-made event). Only the customer's own order of that id is ever looked up."""
    named = payload.get("order")
    if isinstance(named, str) and named:
        return named
    trigger = payload.get("trigger")
    if not isinstance(trigger, dict):
        return None
    for key in ("external_id", "order"):
        value = trigger.get(key)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True)
class SendOutcome:
    """What happened to one claimed message."""

    outbox_id: int
    state: str  # sent | deferred | failed | suppressed
    code: int | None = None
    reply: str | None = None
    next_attempt_at: datetime | None = None


RENDERED = "rendered"
"""The payload key of a message rendered when it was planned (a broadcast's test mail, made
for a sample customer and sent to another address): {"subject", "preheader", "html",
"text"}, sent as it is instead of being rendered for the recipient."""
