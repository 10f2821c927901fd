"""A broadcast whose every figure is known: an A/B test of 8 + 8 recipients, B sent to 4 more.

Mail is planned with `plan_sends`, sent through `claim_due`/`record_outcomes` at set times,
and what came back is written the way the inbound side and the web side write it (bounce
reports, tracking events, an unsubscribe). Expected figures are spelled out in the tests.

    A (test)  a1 sent, opened, clicked, ordered 50.00 two hours on
              a2 sent, opened
              a3 sent, then a hard bounce came back (it ordered 25.00: not counted)
              a4 refused at once (550)
              a5 sent, a soft bounce came back
              a6 sent, unsubscribed
              a7 skipped: contact pressure
              a8 sent, its order was cancelled
    B (test)  b1 sent, clicked, ordered 30.00 one day on to the microsecond, and 20.00 later
              b2 sent, opened, clicked, ordered 80.00 four days on
              b3 sent, a soft bounce came back, then it was opened: delivered
              b4 sent, a complaint came back
              b5 the template did not render
              b6 deferred, waiting for its next try
              b7 sent, ordered 99.00 six days on: outside the 5-day window
              b8 skipped: the address is suppressed
    B (rest)  r1 sent five hours on, opened, ordered 40.00 an hour later
              r2 paused, r3 cancelled, r4 still queued
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session

from mailengine.addresses import address_hash
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.database import Database
from mailengine.store.inbound_store import mark_send_bounced, record_bounce, store_raw
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import claim_due, outbox_table, plan_sends, record_outcomes
from mailengine.store.privacy import unsubscribe
from mailengine.store.records import OrderUpsert, PlannedSend, SendOutcome
from tests.conftest import NOW
from tests.web.conftest import add_customers

NAME = "december-sale"
T0 = NOW - timedelta(days=10)  # 2026-11-13 09:00 UTC, 10:00 in Berlin
A_SENT = T0 + timedelta(minutes=10)
B_SENT = T0 + timedelta(minutes=20, microseconds=123_456)
REST_SENT = T0 + timedelta(hours=5)
LATER = NOW + timedelta(days=1)  # rows not due by NOW stay queued
WORKER = "report-test"

_CELLS = {
    **{f"a{n}": ("A", "test", A_SENT) for n in range(1, 9)},
    **{f"b{n}": ("B", "test", B_SENT) for n in range(1, 9)},
    "r1": ("B", "rest", REST_SENT),
    "r2": ("B", "rest", LATER),
    "r3": ("B", "rest", LATER),
    "r4": ("B", "rest", LATER),
}
_OUTCOMES = {
    "a4": SendOutcome(0, "failed", 550, "550 5.1.1 no such user"),
    "a7": SendOutcome(0, "suppressed", reply="contact pressure: 2 marketing mails in 7 days"),
    "b5": SendOutcome(0, "failed", reply="render error: 'coupon' is undefined"),
    "b6": SendOutcome(0, "deferred", 451, "451 4.7.1 try later", LATER),
    "b8": SendOutcome(0, "suppressed", reply="address suppressed (hard-bounce)"),
}


def email(person: str) -> str:
    return f"{person}@example.com"


def build(database: Database) -> dict[str, int]:
    """The broadcast's mail and what became of it; outbox ids by person."""
    people = list(_CELLS)
    customers = add_customers(
        database, [(email(p), "granted") for p in people], T0 - timedelta(days=30)
    )
    sends = [
        PlannedSend(
            idempotency_key=f"broadcast:{NAME}:{customers[email(person)]}",
            workflow=f"broadcast:{NAME}",
            step=variant,
            customer_id=customers[email(person)],
            recipient=email(person),
            template=f"newsletter/{variant.lower()}",
            subject=f"Subject {variant}",
            message_id=f"<{NAME}.{person}@shop.example>",
            payload={"broadcast": NAME, "variant": variant, "phase": phase},
            not_before=due,
        )
        for person, (variant, phase, due) in _CELLS.items()
    ]
    # Another workflow's mail to a1 and its click: none of it is the broadcast's.
    sends.append(
        PlannedSend(
            idempotency_key="welcome:1:a1",
            workflow="welcome",
            step="1",
            customer_id=customers[email("a1")],
            recipient=email("a1"),
            template="welcome/hello",
            subject="Hello",
            message_id="<welcome.a1@shop.example>",
            not_before=A_SENT,
        )
    )
    with database.transaction() as session:
        plan_sends(session, sends, T0)
    ids: dict[str, int] = {}
    for at in (A_SENT, B_SENT, REST_SENT):
        ids.update(_send_round(database, at))
    _pause_and_cancel(database, ids)
    _what_came_back(database, ids)
    _orders(database)
    return ids


def _send_round(database: Database, at: datetime) -> dict[str, int]:
    """Claim what is due at `at` and settle it as `_OUTCOMES` says (sent otherwise)."""
    found: dict[str, int] = {}
    with database.transaction() as session:
        claimed = claim_due(session, WORKER, at, 1000, timedelta(minutes=5))
        outcomes = []
        for send in claimed:
            person = send.recipient.split("@")[0]
            if send.workflow == f"broadcast:{NAME}":
                found[person] = send.id
            else:
                found[f"{send.workflow}-{person}"] = send.id
            planned = _OUTCOMES.get(person) if send.workflow.startswith("broadcast:") else None
            if planned is None:
                outcomes.append(SendOutcome(send.id, "sent", 250, "250 2.0.0 queued"))
            else:
                outcomes.append(
                    SendOutcome(
                        send.id, planned.state, planned.code, planned.reply, planned.next_attempt_at
                    )
                )
        record_outcomes(session, WORKER, outcomes, at)
    return found


def _pause_and_cancel(database: Database, ids: dict[str, int]) -> None:
    """r2 held by a pause, r3 cancelled, as the broadcast's pause and cancel leave them."""
    o = outbox_table.c
    with database.transaction() as session:
        rows = {
            row.recipient.split("@")[0]: row.id
            for row in session.execute(
                outbox_table.select().where(
                    o.recipient.in_([email("r2"), email("r3"), email("r4")])
                )
            )
        }
        ids.update(rows)
        session.execute(update(outbox_table).where(o.id == rows["r2"]).values(state="paused"))
        session.execute(
            update(outbox_table)
            .where(o.id == rows["r3"])
            .values(state="suppressed", last_reply="broadcast cancelled: by admin@shop.example")
        )


def _what_came_back(database: Database, ids: dict[str, int]) -> None:
    minutes = timedelta(minutes=1)
    with database.transaction() as session:
        for person, kind, at in (
            ("a1", "open", T0 + 60 * minutes),
            ("a1", "click", T0 + 65 * minutes),
            ("a1", "open", T0 + 200 * minutes),  # a second open: still one opened message
            ("a2", "open", T0 + 90 * minutes),
            ("b1", "click", T0 + 40 * minutes),  # a click without an open counts as one
            ("b2", "open", T0 + 50 * minutes),
            ("b2", "click", T0 + 55 * minutes),
            ("b2", "click", T0 + 56 * minutes),
            ("b3", "open", T0 + 120 * minutes),
            ("r1", "open", T0 + 330 * minutes),
            ("welcome-a1", "click", T0 + 70 * minutes),
        ):
            record_tracking_event(session, ids[person], kind, at)
        _report(session, ids["a3"], "a3", "hard", T0 + 30 * minutes)
        _report(session, ids["a5"], "a5", "soft", T0 + 30 * minutes)
        _report(session, ids["b3"], "b3", "soft", T0 + 45 * minutes)
        _report(session, ids["b4"], "b4", "complaint", T0 + 300 * minutes)
        unsubscribe(session, address_hash(email("a6")), "one-click", None, T0 + 100 * minutes)


def _report(session: Session, outbox_id: int, person: str, kind: str, at: datetime) -> None:
    """What the inbound side writes for a bounce or complaint report about one send."""
    stored = store_raw(
        session,
        f"report about {person}: {kind}".encode(),
        source="test",
        envelope_from="MAILER-DAEMON@mx.example.net",
        envelope_to=["bounces@shop.example"],
        now=at,
    )
    record_bounce(
        session, inbound_id=stored.id, address=email(person), kind=kind, now=at, outbox_id=outbox_id
    )
    if kind == "hard":
        mark_send_bounced(session, outbox_id, "bounced: 5.1.1 mailbox gone", at)
        record_tracking_event(session, outbox_id, "bounce", at)
    elif kind == "complaint":
        record_tracking_event(session, outbox_id, "complaint", at)


def _orders(database: Database) -> None:
    day = timedelta(days=1)
    orders = [
        ("a1", "A1", A_SENT + timedelta(hours=2), 5000, "placed"),
        ("a3", "A3", A_SENT + day, 2500, "placed"),  # bounced: not a delivered message
        ("a8", "A8", A_SENT + day, 7000, "cancelled"),
        ("a2", "A2-before", A_SENT - day, 1000, "placed"),  # before the send
        ("b1", "B1", B_SENT + day, 3000, "placed"),  # exactly at the end of a 1-day window
        ("b1", "B1-later", B_SENT + 2 * day, 2000, "placed"),
        ("b2", "B2", B_SENT + 4 * day, 8000, "placed"),
        ("b7", "B7", B_SENT + 6 * day, 9900, "placed"),  # after the 5-day window
        ("r1", "R1", REST_SENT + timedelta(hours=1), 4000, "placed"),
    ]
    records = [
        OrderUpsert(
            external_id=number,
            email=email(person),
            channel="online",
            amount_minor=amount,
            currency="EUR",
            base_amount_minor=amount,
            placed_at=at,
            status=status,
        )
        for person, number, at, amount, status in orders
    ]
    with database.transaction() as session:
        upsert_orders(session, records, NOW)
