"""Poll and questionnaire answers stored on SQLite and PostgreSQL: replacing, latest, events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.events import claim_new_events
from mailengine.store.models import Customer, OutboxMessage
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import plan_sends
from mailengine.store.polls import (
    GivenAnswer,
    answer_table,
    latest_answers,
    latest_answers_of,
    questionnaire_answers,
    record_poll_answer,
    record_questionnaire_answers,
    scored_answers,
)
from mailengine.store.records import CustomerUpsert, OrderUpsert, PlannedSend
from tests.conftest import NOW


def _customer(database: Database, email: str = "ada@example.com") -> int:
    with database.transaction() as session:
        outcome = upsert_customers(session, [CustomerUpsert(email=email)], NOW)
    return outcome.customer_ids[email]


def _mail_about_order(database: Database, customer_id: int, email: str) -> int:
    """An order with a shirt and a pair of shoes, and the NPS mail that asks about it."""
    items = [
        {"sku": "TS-100", "name": "T-shirt", "quantity": 1, "category": "shirts"},
        {"sku": "SN-600", "name": "Sneakers", "quantity": 1, "category": "shoes"},
    ]
    order = OrderUpsert("W1", email, "online", 5000, "EUR", 5000, NOW, items=items)
    send = PlannedSend(
        "k1", "thank-you", "4", customer_id, email, "thank-you/how-likely", "Hi", "<m1@x>",
        kind="transactional", payload={"trigger": {"external_id": "W1"}},
    )  # fmt: skip
    with database.transaction() as session:
        upsert_orders(session, [order], NOW)
        plan_sends(session, [send], NOW)
        return int(session.execute(select(func.max(OutboxMessage.id))).scalar_one())


def test_answering_again_from_the_same_mail_replaces_and_the_latest_follows(
    database: Database,
) -> None:
    ada = _customer(database)
    outbox_id = _mail_about_order(database, ada, "ada@example.com")
    with database.transaction() as session:
        record_poll_answer(
            session, ada, "delivery_nps", GivenAnswer("3", 3, "late"), NOW, outbox_id=outbox_id
        )
        later = NOW + timedelta(minutes=5)
        record_poll_answer(
            session, ada, "delivery_nps", GivenAnswer("9", 9, " fine "), later, outbox_id=outbox_id
        )
    with database.session() as session:
        rows = session.execute(select(answer_table.c.score, answer_table.c.order_ref)).all()
        latest = latest_answers(session, ada)
        events = claim_new_events(session, 10)
        scored = list(scored_answers(session, "delivery_nps", NOW, NOW + timedelta(days=1)))
        assert [tuple(row) for row in rows] == [(9, "W1")]
    assert latest["delivery_nps"].score == 9 and latest["delivery_nps"].comment == "fine"
    assert [(event.type, event.data["score"]) for event in events] == [
        ("poll.answered", 3),
        ("poll.answered", 9),
    ]
    assert events[0].data["outbox_id"] == outbox_id and events[0].customer_id == ada
    assert len(scored) == 1 and scored[0].score == 9
    assert [item["category"] for item in scored[0].items or []] == ["shirts", "shoes"]


def test_another_mail_keeps_its_own_answer_and_a_strangers_mail_is_not_taken(
    database: Database,
) -> None:
    ada, bob = _customer(database), _customer(database, "bob@example.com")
    outbox_id = _mail_about_order(database, ada, "ada@example.com")
    with database.transaction() as session:
        record_poll_answer(
            session, ada, "delivery_nps", GivenAnswer("4", 4), NOW, outbox_id=outbox_id
        )
        record_poll_answer(session, ada, "delivery_nps", GivenAnswer("10", 10), NOW, outbox_id=None)
        # Bob cannot attach his answer to Ada's mail (nor learn what her order held).
        record_poll_answer(
            session, bob, "delivery_nps", GivenAnswer("yes"), NOW, outbox_id=outbox_id
        )
    with database.session() as session:
        rows = session.execute(
            select(
                answer_table.c.customer_id, answer_table.c.outbox_id, answer_table.c.order_ref
            ).order_by(answer_table.c.id)
        ).all()
        both = latest_answers_of(session, [ada, bob, 999])
        consent = session.execute(select(Customer.consent_status)).scalars().all()  # type: ignore[call-overload]
    assert [tuple(row) for row in rows] == [
        (ada, outbox_id, "W1"),
        (ada, None, None),
        (bob, None, None),
    ]
    assert both[ada]["delivery_nps"].score == 10 and both[bob]["delivery_nps"].answer == "yes"
    assert 999 not in both
    assert set(consent) == {"unknown"}  # answering is no subscription


def test_questionnaire_answers_are_kept_per_question_and_replaced(database: Database) -> None:
    ada = _customer(database)
    with database.transaction() as session:
        record_questionnaire_answers(
            session, ada, "after-delivery",
            {"fit": GivenAnswer("too-small"), "speed": GivenAnswer("4", 4)}, NOW,
        )  # fmt: skip
        record_questionnaire_answers(
            session, ada, "after-delivery", {"fit": GivenAnswer("fits")}, NOW
        )
    with database.session() as session:
        found = questionnaire_answers(session, ada, "after-delivery")
    assert found == {"fit": GivenAnswer("fits"), "speed": GivenAnswer("4", 4)}
