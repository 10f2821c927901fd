"""`polls.NAME` in audiences and branches: the latest answer, compared by score or by name,
on SQLite and PostgreSQL; a customer who has not answered matches no comparison."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailengine.store.audience_queries import count_audience, stream_audience
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.polls import GivenAnswer, record_poll_answer
from mailengine.store.records import ConsentStatement, CustomerUpsert
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import parse_workflow
from mailengine.yamlsource import load_yaml_text
from tests.conftest import NOW
from tests.workflows.test_audience_sql import workflow_with

# email -> answers to delivery_nps, oldest first (the last one counts), or to fit
ANSWERS = {
    "det@example.com": [("10", 10), ("3", 3)],
    "pas@example.com": [("7", 7)],
    "pro@example.com": [("2", 2), ("9", 9)],
    "none@example.com": [],
}


def _people(database: Database) -> dict[str, int]:
    records = [
        CustomerUpsert(
            email=email, consent=ConsentStatement(status="granted", source="t", recorded_at=NOW)
        )
        for email in ANSWERS
    ]
    with database.transaction() as session:
        ids = upsert_customers(session, records, NOW).customer_ids
        for email, answers in ANSWERS.items():
            for minutes, (answer, score) in enumerate(answers):
                moment = NOW + timedelta(minutes=minutes)
                given = GivenAnswer(answer, score)
                record_poll_answer(session, ids[email], "delivery_nps", given, moment)
        record_poll_answer(session, ids["pas@example.com"], "fit", GivenAnswer("too_small"), NOW)
    return ids


def _matching(database: Database, audience: str) -> set[str]:
    ids = _people(database)
    names = {customer_id: email.split("@")[0] for email, customer_id in ids.items()}
    workflow = workflow_with(audience)
    context = AudienceContext(NOW + timedelta(hours=1))
    with database.session() as session:
        found = {
            names[row.customer_id]
            for batch in stream_audience(session, workflow, context, 50)
            for row in batch
        }
        assert count_audience(session, workflow, context) == len(found)
    return found


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("polls.delivery_nps: {lte: 6}", {"det"}),
        ("polls.delivery_nps: {gte: 9}", {"pro"}),
        ("polls.delivery_nps: {gt: 6, lt: 9}", {"pas"}),
        ("polls.delivery_nps: [7, 9]", {"pas", "pro"}),
        ("polls.delivery_nps: {ne: 3}", {"pas", "pro"}),  # not those who never answered
        ("polls.delivery_nps: {is_set: false}", {"none"}),
        ("polls.fit: too_small", {"pas"}),
        ("not: {polls.delivery_nps: {lte: 6}}", {"pas", "pro", "none"}),
    ],
)
def test_an_audience_on_the_latest_poll_answer(
    database: Database, audience: str, expected: set[str]
) -> None:
    assert _matching(database, audience) == expected


@pytest.mark.parametrize(
    ("audience", "words"),
    [
        ("polls.delivery_nps: {lte: six}", "expected a score, such as 6, got 'six'"),
        ("polls.Delivery: 3", "a poll name is lower-case"),
        ("polls.delivery_nps: {within: 3 days}", "cannot use 'within'"),
    ],
)
def test_a_wrong_poll_condition_is_named_at_its_place(audience: str, words: str) -> None:
    text = (
        "name: t\ntrigger: {event: test.happened}\naudience:\n  "
        + audience
        + "\nsteps:\n  - wait: 1 day\n"
    )
    workflow, problems = parse_workflow(load_yaml_text(text, "t.yaml"))
    assert workflow is None
    assert any(
        str(problem).startswith("t.yaml:4:") and words in str(problem) for problem in problems
    ), [str(problem) for problem in problems]
