"""Audiences on predicted figures give the customers hand-written SQL gives, on SQLite and
PostgreSQL; customers not predicted yet match no comparison on them; `within` looks ahead on
the predicted next order and back on the past."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from mailengine.engine.audience_reasons import why_not_in_audience
from mailengine.store.audience_queries import customer_matches
from mailengine.store.simulation_queries import customer_facts
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import parse_workflow
from mailengine.workflows.model import Comparison
from mailengine.yamlsource import load_yaml_text
from tests.workflows.conftest import Populated
from tests.workflows.test_audience_sql import (
    MARKETING,
    audience_ids,
    hand_ids,
    moment,
    workflow_with,
)

NOT_PREDICTED = "c.predicted_at IS NULL"

# (audience, hand-written condition, its parameters as functions of the populated data)
CASES = [
    ("churn_risk: {gte: 0.6}", "c.churn_risk >= 0.6", {}),
    ("p_active: {lt: 0.25}", "c.p_active < 0.25", {}),
    ("p_active: {gt: 0.2, lte: 0.5}", "c.p_active > 0.2 AND c.p_active <= 0.5", {}),
    ("p_active: {eq: 0.5}", "c.p_active = 0.5", {}),
    ("churn_risk: {ne: 0.5}", "c.churn_risk IS NOT NULL AND c.churn_risk <> 0.5", {}),
    ("expected_orders_90d: {gte: 1.5}", "c.expected_orders_90d >= 1.5", {}),
    ("expected_orders_90d: {lt: 1}", "c.expected_orders_90d < 1", {}),
    ("predicted_value_365d: {gte: 250}", "c.predicted_value_365d_minor >= 25000", {}),
    ("predicted_value_365d: {lt: 99.99}", "c.predicted_value_365d_minor < 9999", {}),
    (
        "predicted_value_365d: {ne: 100}",
        "c.predicted_value_365d_minor IS NOT NULL AND c.predicted_value_365d_minor <> 10000",
        {},
    ),
    (
        "predicted_next_order_at: {within: 3 days}",
        "c.predicted_next_order_at >= :now AND c.predicted_next_order_at <= :ahead",
        {"now": timedelta(0), "ahead": timedelta(days=3)},
    ),
    (
        "predicted_next_order_at: {before: 2 days ago}",  # overdue
        "c.predicted_next_order_at < :cut",
        {"cut": timedelta(days=-2)},
    ),
    (
        "predicted_next_order_at: {after: in 30 days}",
        "c.predicted_next_order_at > :cut",
        {"cut": timedelta(days=30)},
    ),
    ("best_send_hour: 9", "c.best_send_hour = 9", {}),
    ("best_send_hour: [18, 19, 20]", "c.best_send_hour IN (18, 19, 20)", {}),
    (
        "best_send_hour: {not_in: [18, 19, 20]}",
        "c.best_send_hour IS NOT NULL AND c.best_send_hour NOT IN (18, 19, 20)",
        {},
    ),
    ("best_send_hour: {gte: 20}", "c.best_send_hour >= 20", {}),
]


@pytest.mark.parametrize(("audience", "where", "moments"), CASES)
def test_a_predicted_field_selects_what_sql_selects(
    populated: Populated, audience: str, where: str, moments: dict[str, timedelta]
) -> None:
    params = {name: moment(populated, populated.now + delta) for name, delta in moments.items()}
    expected = hand_ids(populated, f"{MARKETING} AND {where}", **params)
    assert expected, "the generated data must hold some matching customers"
    found = audience_ids(populated, workflow_with(audience))
    assert found == expected
    not_predicted = hand_ids(populated, f"{MARKETING} AND {NOT_PREDICTED}")
    assert not_predicted, "the generated data must hold customers not predicted yet"
    assert not found & not_predicted


def test_within_looks_back_on_past_dates_and_ahead_on_the_predicted_one(
    populated: Populated,
) -> None:
    past = audience_ids(populated, workflow_with("last_order_at: {within: 30 days}"))
    since = moment(populated, populated.now - timedelta(days=30))
    now = moment(populated, populated.now)
    expected = hand_ids(
        populated,
        f"{MARKETING} AND c.last_order_at >= :since AND c.last_order_at <= :now",
        since=since,
        now=now,
    )
    assert past == expected and past
    ahead = audience_ids(populated, workflow_with("predicted_next_order_at: {within: 30 days}"))
    behind = hand_ids(
        populated,
        f"{MARKETING} AND c.predicted_next_order_at >= :since AND c.predicted_next_order_at < :now",
        since=since,
        now=now,
    )
    assert behind, "some predicted dates lie in the last 30 days (overdue customers)"
    assert ahead and not ahead & behind


def test_not_predicted_yet_is_found_with_is_set_and_through_not(populated: Populated) -> None:
    not_predicted = hand_ids(populated, f"{MARKETING} AND {NOT_PREDICTED}")
    assert audience_ids(populated, workflow_with("churn_risk: {is_set: false}")) == not_predicted
    predicted = audience_ids(populated, workflow_with("churn_risk: {is_set: true}"))
    assert predicted == hand_ids(populated, f"{MARKETING} AND c.churn_risk IS NOT NULL")
    # `not` of a comparison is true for everyone the comparison does not hold for, those
    # without a prediction included: the README says so.
    negated = audience_ids(populated, workflow_with("not: {churn_risk: {gte: 0.6}}"))
    assert negated == hand_ids(
        populated, f"{MARKETING} AND (c.churn_risk < 0.6 OR c.churn_risk IS NULL)"
    )
    assert not_predicted <= negated


def test_branches_read_the_same_predictions(populated: Populated) -> None:
    """`if:` in a workflow asks `customer_matches`, the same compiled SQL, per customer."""
    context = AudienceContext(populated.now)
    risky = hand_ids(populated, "c.churn_risk >= 0.6")
    calm = hand_ids(populated, "c.churn_risk < 0.6")
    unknown = hand_ids(populated, NOT_PREDICTED)
    condition = Comparison("churn_risk", "gte", Decimal("0.6"))  # as the loader reads 0.6
    with populated.database.session() as session:
        for ids, expected in ((risky, True), (calm, False), (unknown, False)):
            for customer_id in sorted(ids)[:5]:
                assert customer_matches(session, condition, customer_id, context) is expected


def test_reasons_name_a_missing_prediction_and_the_days_ahead(populated: Populated) -> None:
    context = AudienceContext(populated.now)
    unknown = min(hand_ids(populated, NOT_PREDICTED))
    later = min(
        hand_ids(
            populated,
            "c.predicted_next_order_at > :cut",
            cut=moment(populated, populated.now + timedelta(days=10)),
        )
    )
    workflow = workflow_with("""
        all:
          - churn_risk: {gte: 0.0}
          - predicted_next_order_at: {within: 3 days}
    """)
    with populated.database.session() as session:
        facts = customer_facts(session, unknown)
        assert facts is not None
        reasons = why_not_in_audience(session, workflow, facts, context)
        assert reasons[0] == "churn_risk is not predicted yet, the audience wants >= 0.0"
        facts = customer_facts(session, later)
        assert facts is not None
        (reason,) = why_not_in_audience(session, workflow, facts, context)
        assert reason.startswith("predicted_next_order_at is in ")
        assert reason.endswith("the audience wants within the next 3 days")


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ("churn_risk: {gte: 1.5}", "churn_risk is a probability from 0 to 1 (e.g. 0.6), got 1.5"),
        ("p_active: {gte: high}", "expected a number such as 0.6, got 'high'"),
        ("expected_orders_90d: {gt: -1}", "expected_orders_90d cannot be negative, got -1"),
        ("best_send_hour: 24", "best_send_hour is from 0 to 23"),
        ("churn_risk: {within: 3 days}", "'churn_risk' cannot use 'within'"),
        ("churn_risk: [0.5, 0.6]", "'churn_risk' cannot use 'in'"),
    ],
)
def test_mistakes_on_predicted_fields_are_reported(audience: str, message: str) -> None:
    text = f"name: t\ntrigger: {{event: a.b}}\naudience:\n  {audience}\nsteps:\n  - wait: 1 day\n"
    workflow, problems = parse_workflow(load_yaml_text(text, "t.yaml"))
    assert workflow is None
    assert any(message in str(problem) for problem in problems), problems
