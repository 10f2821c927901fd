"""Queries behind the HTTP API: idempotent answers, customer/order/event writes, tracked links.

Also the double opt-in confirmation mail a signup plans, and the lookups the tracking
endpoints need.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlmodel import Session

from mailengine.message_ids import make_message_id
from mailengine.store.customers import customer_table, ensure_customers, upsert_customers
from mailengine.store.database import upsert_insert
from mailengine.store.events import record_event
from mailengine.store.orders import placed_order_data, upsert_orders
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import CustomerUpsert, OrderUpsert, PlannedSend
from mailengine.store.suppressions import blocks, suppression_table
from mailengine.store.web_models import ApiRequest, TrackedLink, TrackingEvent

api_request_table = ApiRequest.__table__  # type: ignore[attr-defined]
tracked_link_table = TrackedLink.__table__  # type: ignore[attr-defined]
tracking_event_table = TrackingEvent.__table__  # type: ignore[attr-defined]

# --- answers stored for retried requests ----------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    endpoint: str
    request_hash: str
    status_code: int
    response: dict[str, Any]


def reserve_idempotency_key(
    session: Session, client: str, key: str, endpoint: str, request_hash: str, now: datetime
) -> StoredAnswer | None:
    """Claim `key` for this request, or return the answer stored under it before.

    The claim is the first write of the caller's transaction: a concurrent request with the
    same key waits on it and then reads the answer this one stores. (No savepoint: on SQLite
    a savepoint opened before any other write commits when it is released.)
    """
    statement = (
        upsert_insert(session)(api_request_table)
        .values(
            client=client,
            idempotency_key=key,
            endpoint=endpoint,
            request_hash=request_hash,
            status_code=0,
            response={},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["client", "idempotency_key"])
        .returning(api_request_table.c.id)
    )
    if session.execute(statement).first() is not None:
        return None
    return _stored_answer(session, client, key)


def save_answer(
    session: Session,
    client: str,
    key: str,
    status_code: int,
    response: dict[str, Any],
    customer_id: int | None,
) -> None:
    a = api_request_table.c
    session.execute(
        update(api_request_table)
        .where(a.client == client, a.idempotency_key == key)
        .values(status_code=status_code, response=response, customer_id=customer_id)
    )


def _stored_answer(session: Session, client: str, key: str) -> StoredAnswer | None:
    a = api_request_table.c
    row = session.execute(
        select(a.endpoint, a.request_hash, a.status_code, a.response).where(
            a.client == client, a.idempotency_key == key
        )
    ).first()
    return StoredAnswer(**row._mapping) if row is not None else None


def purge_answers(session: Session, older_than: datetime) -> int:
    """Forget stored answers made before `older_than` (a retry window is hours, not months)."""
    result = session.execute(
        api_request_table.delete().where(api_request_table.c.created_at < older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- customers, orders, events --------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmationMail:
    """The double opt-in mail planned when a signup says yes; `domain` makes its Message-ID."""

    domain: str
    subject: str = "Please confirm your subscription"
    workflow: str = "double-opt-in"
    step: str = "confirm"
    template: str = "double-opt-in/confirm"


# "not-needed": no yes to confirm, or confirmed before; "suppressed": the address takes no mail.
Confirmation = Literal["planned", "not-needed", "suppressed"]


@dataclass(frozen=True)
class CustomerWritten:
    customer_id: int
    created: bool
    consent_status: str
    confirmation: Confirmation


def write_customer(
    session: Session,
    record: CustomerUpsert,
    now: datetime,
    confirmation: ConfirmationMail | None = None,
) -> CustomerWritten:
    """Upsert one customer; a new one emits `customer.created`.

    With `confirmation` (double opt-in), a "granted" from the signup is stored as "pending"
    and a confirmation mail is planned (at most one per customer and day); consent becomes
    granted only through `confirm_consent`.
    """
    c = customer_table.c
    current = session.execute(
        select(c.consent_status).where(c.email == record.email)
    ).scalar_one_or_none()
    wants_confirmation = (
        confirmation is not None
        and record.consent is not None
        and record.consent.status == "granted"
    )
    statement = record.consent
    if wants_confirmation and statement is not None:
        if current == "granted":
            record = replace(record, consent=None)
            wants_confirmation = False
        else:
            record = replace(record, consent=replace(statement, status="pending"))
    outcome = upsert_customers(session, [record], now)
    customer_id = outcome.customer_ids[record.email]
    created = current is None
    if created:
        record_event(
            session,
            customer_id,
            "customer.created",
            {"source": "api"},
            now,
            now,
            idempotency_key=f"customer.created:{customer_id}",
        )
    status = session.execute(select(c.consent_status).where(c.id == customer_id)).scalar_one()
    answer: Confirmation = "not-needed"
    if wants_confirmation and confirmation is not None:
        answer = _plan_confirmation(session, customer_id, record.email, confirmation, now)
    return CustomerWritten(customer_id, created, str(status), answer)


def _plan_confirmation(
    session: Session, customer_id: int, email: str, mail: ConfirmationMail, now: datetime
) -> Confirmation:
    reason = session.execute(
        select(suppression_table.c.reason).where(
            suppression_table.c.address_hash == _hash_of(session, customer_id)
        )
    ).scalar_one_or_none()
    if blocks(reason, "transactional"):
        return "suppressed"
    send = PlannedSend(
        idempotency_key=f"{mail.workflow}:{mail.step}:{customer_id}:{now:%Y-%m-%d}",
        workflow=mail.workflow,
        step=mail.step,
        customer_id=customer_id,
        recipient=email,
        template=mail.template,
        subject=mail.subject,
        message_id=make_message_id(mail.domain),
        kind="transactional",
    )
    plan_sends(session, [send], now)
    return "planned"


def _hash_of(session: Session, customer_id: int) -> str:
    c = customer_table.c
    return str(session.execute(select(c.email_hash).where(c.id == customer_id)).scalar_one())


@dataclass(frozen=True)
class OrderWritten:
    customer_id: int
    created: bool
    event_id: int | None  # the `order.placed` event of a new order


def write_order(session: Session, record: OrderUpsert, now: datetime) -> OrderWritten:
    """Upsert one order (customer figures follow); a new order emits `order.placed`."""
    outcome = upsert_orders(session, [record], now)
    customer_id = outcome.customer_ids[record.email]
    if not outcome.inserted:
        return OrderWritten(customer_id, False, None)
    event_id, _ = record_event(
        session,
        customer_id,
        "order.placed",
        placed_order_data(record),
        record.placed_at,
        now,
        idempotency_key=f"order.placed:{record.external_id}",
    )
    return OrderWritten(customer_id, True, event_id)


@dataclass(frozen=True)
class EventWritten:
    event_id: int
    customer_id: int
    stored: bool  # False when an event with the same key was stored before


def write_event(
    session: Session,
    email: str,
    event_type: str,
    data: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
    key: str | None,
) -> EventWritten:
    """Record a custom event for the customer with this address (a bare one if unknown)."""
    customer_id = ensure_customers(session, [email], now)[email]
    event_id, stored = record_event(
        session, customer_id, event_type, data, occurred_at, now, idempotency_key=key
    )
    return EventWritten(event_id, customer_id, stored)


# --- tracked links --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkTarget:
    """What a tracked key leads to: its message and URL (None: the open pixel); `id` for a
    `tracked_link` row, `list_id` and `position` for a link of a link list."""

    id: int | None
    outbox_id: int
    url: str | None
    position: int | None = None
    list_id: int | None = None

    @property
    def listed(self) -> tuple[int, int] | None:
        """(list id, place) of a link of a link list; None for a `tracked_link` row."""
        if self.list_id is None or self.position is None:
            return None
        return self.list_id, self.position


def find_link(session: Session, key: str) -> LinkTarget | None:
    t = tracked_link_table.c
    row = session.execute(select(t.id, t.outbox_id, t.url).where(t.key == key)).first()
    return LinkTarget(**row._mapping) if row is not None else None


def record_tracking_event(
    session: Session,
    outbox_id: int,
    kind: str,
    now: datetime,
    link_id: int | None = None,
    *,
    listed: tuple[int, int] | None = None,
) -> None:
    """Note an open, click, bounce, complaint or unsubscribe against the send it belongs to;
    a click names its link by `tracked_link` row or by (list id, place) in its link list."""
    session.execute(
        insert(tracking_event_table).values(
            outbox_id=outbox_id,
            kind=kind,
            link_id=link_id,
            link_list_id=listed[0] if listed is not None else None,
            link_position=listed[1] if listed is not None else None,
            occurred_at=now,
        )
    )


def last_marketing_send(session: Session, customer_id: int, before: datetime) -> int | None:
    """The customer's latest sent marketing message: what an unsubscribe is counted against."""
    o = outbox_table.c
    statement = (
        select(o.id)
        .where(
            o.customer_id == customer_id,
            o.kind == "marketing",
            o.state == "sent",
            o.sent_at <= before,
        )
        .order_by(o.sent_at.desc(), o.id.desc())
        .limit(1)
    )
    found: int | None = session.execute(statement).scalar_one_or_none()
    return found


def ping(session: Session) -> None:
    """Raise unless the database answers a trivial query."""
    session.execute(select(1)).scalar_one()
