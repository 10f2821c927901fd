"""The studio's Polls page: NPS over time and per category as tables and SVG charts."""

from __future__ import annotations

from datetime import timedelta

import httpx

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.polls import GivenAnswer, record_poll_answer
from mailengine.store.records import CustomerUpsert
from tests.conftest import NOW


def _answers(database: Database, scores: list[int]) -> None:
    with database.transaction() as session:
        for number, score in enumerate(scores):
            email = f"c{number}@example.com"
            ids = upsert_customers(session, [CustomerUpsert(email=email)], NOW).customer_ids
            when = NOW - timedelta(days=3 + number)
            record_poll_answer(
                session, ids[email], "delivery_nps", GivenAnswer(str(score), score), when
            )


async def test_the_polls_page_shows_nps_over_time_and_per_category(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: object
) -> None:
    _answers(database, [10, 9, 9, 7, 2])  # 3 promoters, 1 detractor of 5: +40
    page = await marketer_client.get("/studio/polls?poll=delivery_nps&span=12w")
    assert page.status_code == 200
    text = page.text
    assert 'stat-value">+40<' in text
    assert "How likely are you to recommend us to a friend?" in text
    assert text.count("<svg") == 2 and "no order" in text
    assert "2026-W47" in text  # the week of the answers, Monday-based

    missing = await marketer_client.get("/studio/polls?poll=nope")
    assert missing.status_code == 404 and "delivery_nps" in missing.text


async def test_support_people_do_not_see_the_polls_page(support_client: httpx.AsyncClient) -> None:
    answer = await support_client.get("/studio/polls")
    assert answer.status_code == 403
