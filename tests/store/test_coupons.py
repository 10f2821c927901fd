"""Coupons: one per send whatever the retries, single use, expiry, valid online and in store."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from mailengine.store.coupons import CouponOffer, find_coupon, issue_for_send, redeem
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import PlannedSend
from tests.conftest import NOW


def _send(database: Database) -> int:
    with database.transaction() as session:
        plan_sends(
            session,
            [
                PlannedSend(
                    idempotency_key="win-back:3:1:0",
                    workflow="win-back",
                    step="3",
                    customer_id=None,
                    recipient="ann@example.com",
                    template="win-back/coupon",
                    subject="Half price",
                    message_id="<c1@shop.example>",
                )
            ],
            NOW,
        )
    with database.session() as session:
        return int(session.execute(select(outbox_table.c.id)).scalar_one())


OFFER = CouponOffer(percent=50, amount_minor=None, currency=None, expires_at=NOW + timedelta(14))


def test_a_send_gets_one_code_however_often_it_is_rendered(database: Database) -> None:
    outbox_id = _send(database)
    with database.transaction() as session:
        first = issue_for_send(session, outbox_id, None, OFFER, NOW)
    with database.transaction() as session:
        again = issue_for_send(session, outbox_id, None, OFFER, NOW + timedelta(minutes=5))
    assert first == again
    assert re.fullmatch(r"ME-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", first.code)
    assert (first.percent, first.expires_at) == (50, NOW + timedelta(days=14))


def test_a_code_is_single_use_in_any_channel(database: Database) -> None:
    outbox_id = _send(database)
    with database.transaction() as session:
        code = issue_for_send(session, outbox_id, None, OFFER, NOW).code
    with database.transaction() as session:
        assert redeem(session, code.lower(), "S100", "store", NOW + timedelta(days=1)) == (True, "")
    with database.transaction() as session:
        accepted, why = redeem(session, code, "W200", "online", NOW + timedelta(days=2))
        found = find_coupon(session, code)
    assert (accepted, why) == (False, "already used on 2026-11-24")
    assert found is not None
    assert found.redeemed_at == NOW + timedelta(days=1)


def test_expired_and_unknown_codes_are_refused(database: Database) -> None:
    outbox_id = _send(database)
    with database.transaction() as session:
        code = issue_for_send(session, outbox_id, None, OFFER, NOW).code
    with database.transaction() as session:
        assert redeem(session, code, "W1", "online", NOW + timedelta(days=15)) == (
            False,
            "expired on 2026-12-07",
        )
        assert redeem(session, "ME-NOPE-NOPE", "W1", "online", NOW) == (False, "no such code")
