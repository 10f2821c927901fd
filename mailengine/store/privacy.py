"""A customer's say over their mail and data: unsubscribe, confirm, preferences, export, erasure.

An unsubscribe writes the consent history (when, how, from which IP), withdraws consent and
suppresses the address hash: the hash outlives `forget`, so the address is never mailed
marketing again. Only a confirmed double opt-in (a new, proven yes from the address) lifts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.api_queries import (
    api_request_table,
    last_marketing_send,
    record_tracking_event,
    tracked_link_table,
    tracking_event_table,
)
from mailengine.store.coupons import coupon_table
from mailengine.store.customers import PROFILE_FIELDS, consent_table, customer_table
from mailengine.store.database import upsert_insert
from mailengine.store.desk import entry_table
from mailengine.store.events import event_table, record_event
from mailengine.store.inbound_store import inbound_table, ticket_table
from mailengine.store.link_lists import forget_link_lists, link_list_table
from mailengine.store.orders import order_table
from mailengine.store.outbox import FINAL_STATES, outbox_table
from mailengine.store.suppressions import suppress, suppress_hash, suppression_table
from mailengine.store.web_models import MailPreference

preference_table = MailPreference.__table__  # type: ignore[attr-defined]
FORGOTTEN_DOMAIN = "forgotten.invalid"


@dataclass(frozen=True)
class LinkHolder:
    """Who a signed link names: the customer with that address hash, if there is one."""

    address_hash: str
    customer_id: int | None
    email: str | None
    consent_status: str | None
    suppression: str | None


def link_holder(session: Session, digest: str) -> LinkHolder:
    c = customer_table.c
    row = session.execute(
        select(c.id, c.email, c.consent_status).where(c.email_hash == digest).limit(1)
    ).first()
    reason = session.execute(
        select(suppression_table.c.reason).where(suppression_table.c.address_hash == digest)
    ).scalar_one_or_none()
    if row is None:
        return LinkHolder(digest, None, None, None, reason)
    return LinkHolder(digest, row.id, row.email, row.consent_status, reason)


def unsubscribe(session: Session, digest: str, source: str, ip: str | None, now: datetime) -> bool:
    """Withdraw marketing consent for the address hash; False if it was withdrawn already."""
    holder = link_holder(session, digest)
    newly_suppressed = suppress_hash(session, digest, "unsubscribe", now, source)
    if holder.customer_id is None:
        return newly_suppressed
    if holder.consent_status == "withdrawn" and not newly_suppressed:
        return False
    _change_consent(session, holder.customer_id, "withdrawn", source, ip, now, "unsubscribe")
    sent = last_marketing_send(session, holder.customer_id, now)
    if sent is not None:
        record_tracking_event(session, sent, "unsubscribe", now)
    return True


def confirm_consent(session: Session, digest: str, ip: str | None, now: datetime) -> str:
    """Grant consent from a double opt-in link: "confirmed", "already" or "nothing-pending"."""
    holder = link_holder(session, digest)
    if holder.customer_id is None:
        return "nothing-pending"
    if holder.consent_status == "granted":
        return "already"
    if holder.consent_status != "pending":
        return "nothing-pending"
    wording = "confirmed with the link in the confirmation mail"
    _change_consent(session, holder.customer_id, "granted", "double-opt-in", ip, now, wording)
    s = suppression_table.c
    session.execute(
        delete(suppression_table).where(s.address_hash == digest, s.reason == "unsubscribe")
    )
    record_event(
        session, holder.customer_id, "consent.granted", {"source": "double-opt-in"}, now, now
    )
    return "confirmed"


def _change_consent(
    session: Session,
    customer_id: int,
    status: str,
    source: str,
    ip: str | None,
    now: datetime,
    wording: str,
) -> None:
    session.execute(
        insert(consent_table).values(
            customer_id=customer_id,
            purpose="marketing",
            status=status,
            source=source[:60],
            recorded_at=now,
            ip=(ip or None) and ip[:45],
            wording=wording,
        )
    )
    session.execute(
        update(customer_table)
        .where(customer_table.c.id == customer_id)
        .values(consent_status=status, consent_updated_at=now, updated_at=now)
    )


# --- preferences ----------------------------------------------------------------------------


def preferences_of(session: Session, customer_id: int) -> dict[str, bool]:
    """Topic -> still wanted, for the topics the customer has chosen about."""
    p = preference_table.c
    rows = session.execute(select(p.topic, p.subscribed).where(p.customer_id == customer_id))
    return {topic: bool(subscribed) for topic, subscribed in rows}


def save_preferences(
    session: Session, customer_id: int, choices: Mapping[str, bool], now: datetime
) -> None:
    if not choices:
        return
    statement = upsert_insert(session)(preference_table)
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id", "topic"],
        set_={"subscribed": statement.excluded.subscribed, "updated_at": now},
    )
    session.execute(
        statement,
        [
            {"customer_id": customer_id, "topic": topic, "subscribed": wanted, "updated_at": now}
            for topic, wanted in sorted(choices.items())
        ],
    )


def opted_out_topics(session: Session, customer_ids: Iterable[int]) -> dict[int, set[str]]:
    """For send-time checks: the topics each of these customers asked not to get."""
    ids = sorted(set(customer_ids))
    p = preference_table.c
    found: dict[int, set[str]] = {}
    for start in range(0, len(ids), 2000):
        statement = select(p.customer_id, p.topic).where(
            p.customer_id.in_(ids[start : start + 2000]), p.subscribed.is_(False)
        )
        for customer_id, topic in session.execute(statement):
            found.setdefault(customer_id, set()).add(topic)
    return found


# --- export and erasure ---------------------------------------------------------------------


def export_customer(session: Session, email: str) -> dict[str, Any] | None:
    """Everything held about the customer with this (normalised) address, as plain JSON data."""
    c = customer_table.c
    customer = session.execute(select(customer_table).where(c.email == email)).first()
    if customer is None:
        return None
    customer_id = customer.id
    o = outbox_table.c
    sends = select(o.id).where(o.customer_id == customer_id)
    t, e = tracked_link_table.c, tracking_event_table.c
    ll = link_list_table.c
    tracking = select(
        e.kind, e.occurred_at, o.message_id, t.url, e.link_position, ll.urls
    ).select_from(
        tracking_event_table.join(outbox_table, o.id == e.outbox_id)
        .outerjoin(tracked_link_table, t.id == e.link_id)
        .outerjoin(link_list_table, ll.id == e.link_list_id)
    )
    reason = session.execute(
        select(suppression_table.c.reason, suppression_table.c.created_at).where(
            suppression_table.c.address_hash == customer.email_hash
        )
    ).first()
    return {
        "customer": _plain(dict(customer._mapping)),
        "consent_history": _rows(
            session, consent_table, consent_table.c.customer_id, customer_id, "recorded_at"
        ),
        "preferences": _rows(
            session, preference_table, preference_table.c.customer_id, customer_id, "topic"
        ),
        "suppression": _plain(dict(reason._mapping)) if reason is not None else None,
        "orders": _rows(session, order_table, order_table.c.customer_id, customer_id, "placed_at"),
        "events": _rows(session, event_table, event_table.c.customer_id, customer_id, "id"),
        "sends": _rows(session, outbox_table, o.customer_id, customer_id, "id"),
        "coupons": _rows(session, coupon_table, coupon_table.c.customer_id, customer_id, "id"),
        "support_tickets": _rows(
            session, ticket_table, ticket_table.c.customer_id, customer_id, "id"
        ),
        "support_entries": _ticket_entries(session, customer_id),
        "tracking": [
            _plain(_tracking_event(row._mapping))
            for row in session.execute(
                tracking.where(e.outbox_id.in_(sends)).order_by(e.occurred_at, e.id)
            )
        ],
    }


def _tracking_event(row: RowMapping) -> dict[str, Any]:
    """kind, when, the message's Message-ID and the URL clicked (from its link list, or the
    link's own row for mail sent before link lists)."""
    url = row["url"]
    position, urls = row["link_position"], row["urls"]
    if url is None and position is not None and urls is not None and 0 < position <= len(urls):
        url = urls[position - 1]
    return {
        "kind": row["kind"],
        "occurred_at": row["occurred_at"],
        "message_id": row["message_id"],
        "url": url,
    }


def _ticket_entries(session: Session, customer_id: int) -> list[Any]:
    """What people wrote on the customer's tickets (answers, notes) and what they did."""
    e = entry_table.c
    theirs = select(ticket_table.c.id).where(ticket_table.c.customer_id == customer_id)
    statement = (
        select(e.ticket_id, e.kind, e.via, e.author, e.body, e.created_at)
        .where(e.ticket_id.in_(theirs))
        .order_by(e.created_at, e.id)
    )
    return [_plain(dict(row._mapping)) for row in session.execute(statement)]


def _rows(session: Session, table: Any, column: Any, value: int, order: str) -> list[Any]:
    statement = select(table).where(column == value).order_by(table.c[order])
    return [_plain(dict(row._mapping)) for row in session.execute(statement)]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Erasure:
    customer_id: int | None  # None: no customer had this address (it is suppressed all the same)
    newly_suppressed: bool


def forget_customer(session: Session, email: str, now: datetime) -> Erasure:
    """Erase the personal data of the customer with this address; keep the suppressed hash.

    Kept: the customer row as an anonymous shell (figures, for reports), orders' amounts and
    dates, sends and tracking events without recipient, consent history without IP and
    wording, plus a "forget" record. Erased: profile, attributes, preferences, order items,
    event data, recipients and payloads of sends, tracked link targets, stored API answers.
    """
    newly_suppressed = suppress(session, email, "forgotten", now, "customer forget")
    c = customer_table.c
    customer_id = session.execute(select(c.id).where(c.email == email)).scalar_one_or_none()
    if customer_id is None:
        return Erasure(None, newly_suppressed)
    placeholder = f"forgotten-{customer_id}@{FORGOTTEN_DOMAIN}"
    session.execute(
        update(customer_table)
        .where(c.id == customer_id)
        .values(
            {name: None for name in PROFILE_FIELDS if name != "created_at"}
            | {
                "email": placeholder,
                "email_hash": address_hash(placeholder),
                "birthday_md": None,
                "attributes": {},
                "forgotten_at": now,
                "updated_at": now,
            }
        )
    )
    cc = consent_table.c
    session.execute(
        update(consent_table).where(cc.customer_id == customer_id).values(ip=None, wording=None)
    )
    _change_consent(session, customer_id, "withdrawn", "forget", None, now, "erasure request")
    session.execute(delete(preference_table).where(preference_table.c.customer_id == customer_id))
    session.execute(delete(api_request_table).where(api_request_table.c.customer_id == customer_id))
    session.execute(
        update(order_table).where(order_table.c.customer_id == customer_id).values(items=[])
    )
    session.execute(
        update(event_table).where(event_table.c.customer_id == customer_id).values(data={})
    )
    _erase_sends(session, customer_id, placeholder, now)
    _erase_support_mail(session, customer_id, email, placeholder)
    return Erasure(customer_id, newly_suppressed)


def _erase_support_mail(session: Session, customer_id: int, email: str, placeholder: str) -> None:
    """Tickets keep their reference, dates and who did what; the mail itself, the address
    and what people wrote on them go."""
    t, m = ticket_table.c, inbound_table.c
    theirs = or_(t.customer_id == customer_id, t.address == email)
    ticket_ids = list(session.execute(select(t.id).where(theirs)).scalars())
    session.execute(update(ticket_table).where(theirs).values(address=placeholder, subject=""))
    from_them = or_(m.from_address == email, m.ticket_id.in_(ticket_ids))
    session.execute(
        update(inbound_table)
        .where(from_them)
        .values(raw=b"", from_address=None, envelope_from=None, subject=None)
    )
    # What people wrote on their tickets (answers, notes) quotes and names them.
    session.execute(
        update(entry_table).where(entry_table.c.ticket_id.in_(ticket_ids)).values(body="")
    )


def _erase_sends(session: Session, customer_id: int, placeholder: str, now: datetime) -> None:
    o = outbox_table.c
    mine = o.customer_id == customer_id
    sends = select(o.id).where(mine)
    session.execute(delete(tracked_link_table).where(tracked_link_table.c.outbox_id.in_(sends)))
    forget_link_lists(session, customer_id)
    held_out = list(
        session.execute(select(o.id).where(mine, o.payload["holdout"].as_boolean())).scalars()
    )
    session.execute(update(outbox_table).where(mine).values(recipient=placeholder, payload={}))
    if held_out:  # the report still needs to know who was held out
        session.execute(
            update(outbox_table).where(o.id.in_(held_out)).values(payload={"holdout": True})
        )
    session.execute(
        update(outbox_table)
        .where(mine, o.state.not_in(FINAL_STATES))
        .values(state="suppressed", last_reply="the customer asked to be forgotten", updated_at=now)
    )
