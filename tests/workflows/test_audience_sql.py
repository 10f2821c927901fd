"""Audiences give the customers that hand-written SQL gives, on SQLite and on PostgreSQL."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from mailengine.store.audience_queries import count_audience, stream_audience
from mailengine.store.audience_sql import audience_select
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import parse_workflow
from mailengine.workflows.model import Workflow
from mailengine.yamlsource import load_yaml_text
from tests.workflows.conftest import NOW, Populated

# Eligibility written independently of the compiler (NOT IN rather than NOT EXISTS).
NOT_SUPPRESSED = "c.email_hash NOT IN (SELECT address_hash FROM suppression)"
MARKETING = f"c.consent_status = 'granted' AND c.forgotten_at IS NULL AND {NOT_SUPPRESSED}"


def workflow_with(audience: str | None, *, transactional: bool = False) -> Workflow:
    lines = ["name: audience-test", "trigger: {event: test.happened}"]
    lines.append(f"transactional: {'true' if transactional else 'false'}")
    if audience is not None:
        lines.append("audience:\n" + textwrap.indent(textwrap.dedent(audience).strip(), "  "))
    lines.append("steps:\n  - wait: 1 day")
    workflow, problems = parse_workflow(load_yaml_text("\n".join(lines), "test.yaml"))
    assert problems == []
    assert workflow is not None
    return workflow


def moment(populated: Populated, value: datetime) -> Any:
    """A timestamp parameter as the column stores it (UTC text on SQLite)."""
    if populated.dialect == "sqlite":
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def hand_ids(populated: Populated, where: str, **params: Any) -> set[int]:
    sql = f"SELECT c.id FROM customer c WHERE {where}"
    with populated.database.engine.connect() as connection:
        return {row[0] for row in connection.execute(text(sql), params)}


def audience_ids(populated: Populated, workflow: Workflow) -> set[int]:
    context = AudienceContext(populated.now)
    with populated.database.session() as session:
        ids = {
            row.customer_id
            for batch in stream_audience(session, workflow, context, 50)
            for row in batch
        }
        assert count_audience(session, workflow, context) == len(ids)
    return ids


def check(populated: Populated, workflow: Workflow, where: str, **params: Any) -> set[int]:
    expected = hand_ids(populated, where, **params)
    assert expected, "the generated data must hold some matching customers"
    assert audience_ids(populated, workflow) == expected
    return expected


def test_win_back_audience(populated: Populated) -> None:
    workflow = workflow_with("""
        all:
          - orders_count: {gte: 1}
          - last_order_at: {before: 90 days ago}
    """)
    check(
        populated,
        workflow,
        f"{MARKETING} AND c.orders_count >= 1 AND c.last_order_at < :cut",
        cut=moment(populated, populated.now - timedelta(days=90)),
    )


def test_transactional_skips_consent_but_never_suppression(populated: Populated) -> None:
    workflow = workflow_with(None, transactional=True)
    ids = check(populated, workflow, f"c.forgotten_at IS NULL AND {NOT_SUPPRESSED}")
    marketing = audience_ids(populated, workflow_with(None))
    assert marketing < ids


def test_suppression_matches_addresses_in_any_case(populated: Populated) -> None:
    # conftest suppresses PERSON0@example.org, PERSON13@... in upper case: ids 1, 14, ...
    ids = audience_ids(populated, workflow_with(None, transactional=True))
    assert not {1, 14, 27} & ids
    assert {2, 3} <= ids


def test_top_percent_by_spend_includes_ties_at_the_threshold(populated: Populated) -> None:
    workflow = workflow_with("top: {percent: 20, by: spent_365d}")
    buyers = len(hand_ids(populated, "c.spent_365d_minor > 0"))
    top = -(-buyers * 20 // 100)  # ceil(20 % of the buyers)
    ids = check(
        populated,
        workflow,
        f"{MARKETING} AND c.spent_365d_minor >= (SELECT min(spent) FROM ("
        "SELECT spent_365d_minor AS spent FROM customer WHERE spent_365d_minor > 0 "
        "ORDER BY spent_365d_minor DESC LIMIT :top) AS best)",
        top=top,
    )
    assert len(ids) < top  # consent and suppression leave out some of the top buyers


def test_top_percent_of_nobody_is_nobody(populated: Populated) -> None:
    workflow = workflow_with("top: {percent: 50, by: orders_count}")
    everyone = audience_ids(populated, workflow_with(None))
    assert audience_ids(populated, workflow) < everyone
    with_orders = hand_ids(populated, f"{MARKETING} AND c.orders_count > 0")
    assert audience_ids(populated, workflow) <= with_orders


RFM_SCORES = """
    WITH buyers AS (
      SELECT c.id,
             NTILE(5) OVER (ORDER BY c.last_order_at, c.id) AS r,
             NTILE(5) OVER (ORDER BY c.orders_count, c.id) AS f,
             NTILE(5) OVER (ORDER BY c.total_spent_minor, c.id) AS m
      FROM customer c
      WHERE c.orders_count > 0 AND c.last_order_at IS NOT NULL AND c.forgotten_at IS NULL)
    SELECT id FROM buyers WHERE {test}
"""


def test_rfm_score(populated: Populated) -> None:
    workflow = workflow_with("rfm: {gte: 12}")
    check(populated, workflow, f"{MARKETING} AND c.id IN ({RFM_SCORES.format(test='r+f+m >= 12')})")


def test_rfm_segments(populated: Populated) -> None:
    workflow = workflow_with("rfm_segment: [champions, at-risk]")
    test = "(r = 5 AND f >= 4) OR (r <= 2 AND f BETWEEN 3 AND 4)"
    check(populated, workflow, f"{MARKETING} AND c.id IN ({RFM_SCORES.format(test=test)})")


NUMBER_SQL = {
    # numbers, and texts made only of digits with at most one inner point
    "sqlite": (
        "(json_type(c.attributes, '$.shoe_size') IN ('integer', 'real') "
        " AND json_extract(c.attributes, '$.shoe_size') {op} :size) OR "
        "(json_type(c.attributes, '$.shoe_size') = 'text' "
        " AND json_extract(c.attributes, '$.shoe_size') NOT GLOB '*[^0-9.]*' "
        " AND CAST(json_extract(c.attributes, '$.shoe_size') AS REAL) {op} :size)"
    ),
    "postgresql": (  # PostgreSQL does not promise to test AND's left side first: CASE does
        "CASE WHEN jsonb_typeof(c.attributes -> 'shoe_size') = 'number' "
        " OR (c.attributes ->> 'shoe_size') ~ '^[0-9]+(\\.[0-9]+)?$' "
        "THEN (c.attributes ->> 'shoe_size')::numeric END {op} :size"
    ),
}


@pytest.mark.parametrize(("yaml_op", "sql_op", "size"), [("gte", ">=", 43), ("lt", "<", 43.5)])
def test_numeric_attribute_reads_numbers_and_numeric_text(
    populated: Populated, yaml_op: str, sql_op: str, size: float
) -> None:
    workflow = workflow_with(f"attributes.shoe_size: {{{yaml_op}: {size}}}")
    number = NUMBER_SQL[populated.dialect].format(op=sql_op)
    ids = check(populated, workflow, f"{MARKETING} AND ({number})", size=size)
    # "XL", "4x", true and a missing size never compare as numbers
    assert not any((customer_id - 1) % 11 in (7, 8, 9, 10) for customer_id in ids)


TEXT_SQL = {
    "sqlite": "CAST(json_extract(c.attributes, '$.shoe_size') AS TEXT)",
    "postgresql": "(c.attributes ->> 'shoe_size')",
}


def test_text_attribute_in_list_matches_text_and_numbers(populated: Populated) -> None:
    workflow = workflow_with('attributes.shoe_size: ["42", "41", XL]')
    ids = check(
        populated,
        workflow,
        f"{MARKETING} AND {TEXT_SQL[populated.dialect]} IN ('42', '41', 'XL')",
    )
    assert {(customer_id - 1) % 11 for customer_id in ids} == {1, 3, 7}  # "42", 41 and "XL"


def test_boolean_attribute_and_not_set(populated: Populated) -> None:
    workflow = workflow_with("""
        any:
          - attributes.newsletter_vip: true
          - attributes.shoe_size: {is_set: false}
    """)
    truth = {
        "sqlite": "json_type(c.attributes, '$.newsletter_vip') = 'true' OR "
        "json_type(c.attributes, '$.shoe_size') IS NULL",
        "postgresql": "c.attributes -> 'newsletter_vip' = 'true'::jsonb OR "
        "NOT (c.attributes ? 'shoe_size')",
    }
    check(populated, workflow, f"{MARKETING} AND ({truth[populated.dialect]})")


def test_text_fields_any_and_not_keep_unknown_values(populated: Populated) -> None:
    workflow = workflow_with("""
        all:
          - any:
              - city: Berlin
              - zip: {starts_with: "20"}
          - not: {city: Hamburg}
    """)
    check(
        populated,
        workflow,
        f"{MARKETING} AND (c.city = 'Berlin' OR substr(c.zip, 1, 2) = '20') "
        "AND (c.city IS NULL OR c.city <> 'Hamburg')",
    )


def test_not_equal_includes_customers_without_a_value(populated: Populated) -> None:
    workflow = workflow_with("city: {ne: Paris}")
    ids = check(populated, workflow, f"{MARKETING} AND (c.city IS NULL OR c.city <> 'Paris')")
    assert any(customer_id % 5 == 0 for customer_id in ids)  # number % 5 == 4: city unknown


def test_days_since_last_order_range(populated: Populated) -> None:
    workflow = workflow_with("days_since_last_order: {gte: 30, lte: 120}")
    check(
        populated,
        workflow,
        f"{MARKETING} AND c.last_order_at <= :thirty AND c.last_order_at > :hundred_twenty_one",
        thirty=moment(populated, populated.now - timedelta(days=30)),
        hundred_twenty_one=moment(populated, populated.now - timedelta(days=121)),
    )


def test_spent_within_a_window_from_orders(populated: Populated) -> None:
    workflow = workflow_with("spent: {within: 90 days, gte: 150.50}")
    check(
        populated,
        workflow,
        f"{MARKETING} AND c.id IN (SELECT o.customer_id FROM orders o "
        "WHERE o.placed_at >= :since AND o.placed_at <= :now "
        "AND o.status NOT IN ('cancelled', 'returned') "
        "GROUP BY o.customer_id HAVING sum(o.base_amount_minor) >= 15050)",
        since=moment(populated, populated.now - timedelta(days=90)),
        now=moment(populated, populated.now),
    )


def test_no_orders_within_a_window_includes_customers_without_orders(
    populated: Populated,
) -> None:
    workflow = workflow_with("orders: {within: 30 days, eq: 0}")
    check(
        populated,
        workflow,
        f"{MARKETING} AND c.id NOT IN (SELECT o.customer_id FROM orders o "
        "WHERE o.placed_at >= :since AND o.placed_at <= :now "
        "AND o.status NOT IN ('cancelled', 'returned'))",
        since=moment(populated, populated.now - timedelta(days=30)),
        now=moment(populated, populated.now),
    )


def test_money_compares_in_minor_units(populated: Populated) -> None:
    workflow = workflow_with("total_spent: {gte: 500}")
    check(populated, workflow, f"{MARKETING} AND c.total_spent_minor >= 50000")


def test_relative_and_absolute_dates(populated: Populated) -> None:
    workflow = workflow_with("""
        all:
          - created_at: {within: 60 days}
          - any:
              - birthday: {before: 1980-01-01}
              - birthday: {is_set: false}
    """)
    check(
        populated,
        workflow,
        f"{MARKETING} AND c.created_at >= :since AND c.created_at <= :now "
        "AND (c.birthday < :born OR c.birthday IS NULL)",
        since=moment(populated, populated.now - timedelta(days=60)),
        now=moment(populated, populated.now),
        born=date(1980, 1, 1),
    )


def test_consent_field_in_a_transactional_audience(populated: Populated) -> None:
    workflow = workflow_with("consent: [pending, unknown]", transactional=True)
    check(
        populated,
        workflow,
        f"c.forgotten_at IS NULL AND {NOT_SUPPRESSED} "
        "AND c.consent_status IN ('pending', 'unknown')",
    )


def test_both_databases_select_the_same_customers(
    populated_sqlite: Populated, populated_postgres: Populated
) -> None:
    for audience in (
        "rfm: {gte: 10}",
        "attributes.shoe_size: {gte: 42}",
        "top: {percent: 5, by: total_spent}",
    ):
        workflow = workflow_with(audience)
        assert audience_ids(populated_sqlite, workflow) == audience_ids(
            populated_postgres, workflow
        )


def test_stream_yields_plain_tuples_in_batches(populated: Populated) -> None:
    workflow = workflow_with(None, transactional=True)
    context = AudienceContext(populated.now)
    with populated.database.session() as session:
        batches = list(stream_audience(session, workflow, context, batch_size=100))
        count = count_audience(session, workflow, context)
    assert [len(batch) for batch in batches[:-1]] == [100] * (len(batches) - 1)
    rows = [row for batch in batches for row in batch]
    assert len(rows) == count
    assert all(type(row[0]) is int and isinstance(row, tuple) for row in rows)
    assert [row.customer_id for row in rows] == sorted(row.customer_id for row in rows)
    assert rows[0].email.startswith("person")


def test_statement_binds_values_and_never_inlines_them() -> None:
    workflow = workflow_with('city: "x\'; DROP TABLE customer; --"')
    statement = audience_select(workflow, AudienceContext(NOW))
    assert "DROP TABLE" not in str(statement)
