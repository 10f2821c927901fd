"""A customer who turns a broadcast's topic off after it was planned is skipped when it goes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from mailengine.outbound.send_checks import check_at_send_time
from mailengine.store.broadcast_plan import preference_table
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, plan_sends
from mailengine.store.records import PlannedSend
from tests.broadcasts.planning_shop import add_customers
from tests.conftest import NOW


def _planned(customer_id: int, email: str, topic: str) -> PlannedSend:
    return PlannedSend(
        idempotency_key=f"broadcast:sale:{customer_id}:{topic}",
        workflow="broadcast:sale",
        step="all",
        customer_id=customer_id,
        recipient=email,
        template="newsletter/newsletter",
        subject="Sale",
        message_id=f"<{customer_id}.{topic}@shop.example>",
        payload={"broadcast": "sale", "variant": "all", "phase": "all", "topic": topic},
    )


def test_the_topic_is_checked_again_at_send_time(database: Database) -> None:
    ids = add_customers(database, 2)
    anna, ben = ids["c0@example.com"], ids["c1@example.com"]
    with database.transaction() as session:
        plan_sends(
            session,
            [
                _planned(anna, "c0@example.com", "promotions"),
                _planned(anna, "c0@example.com", "newsletter"),
                _planned(ben, "c1@example.com", "promotions"),
            ],
            NOW,
        )
        session.execute(
            insert(preference_table).values(
                customer_id=anna, topic="promotions", subscribed=False, updated_at=NOW
            )
        )
    with database.transaction() as session:
        claimed = claim_due(session, "w", NOW, 10, timedelta(minutes=5))
        checked = check_at_send_time(session, claimed, NOW, worker="w")
    verdicts = {
        (send.customer_id, send.payload["topic"]): checked.verdicts[send.id] for send in claimed
    }
    assert verdicts == {
        (anna, "promotions"): "the customer opted out of promotions mail",
        (anna, "newsletter"): None,
        (ben, "promotions"): None,
    }
