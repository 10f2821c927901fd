"""The Audiences pages through the real app: counts, samples and SQL on the database, an edited
expression tried (and its mistakes shown at their line:col), roles, and the time limit."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.predictions import CustomerPrediction, write_predictions
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert
from mailengine.studio.context import StudioContext
from tests.conftest import NOW
from tests.studio.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("frozen_time")


def _shoppers(database: Database, count: int, *, lapsed_every: int = 3) -> dict[str, int]:
    """`count` customers with consent; every `lapsed_every`-th last ordered 120 days ago, the
    others 10 days ago; customer n has n % 4 + 1 orders."""
    people, orders = [], []
    for n in range(count):
        email = f"shopper{n:03d}@example.com"
        consent = ConsentStatement(status="granted", source="test", recorded_at=NOW)
        people.append(
            CustomerUpsert(email=email, fields={"first_name": f"Shopper{n:03d}"}, consent=consent)
        )
        age = timedelta(days=120 if n % lapsed_every == 0 else 10)
        for k in range(n % 4 + 1):
            orders.append(
                OrderUpsert(
                    external_id=f"W{n:03d}-{k}",
                    email=email,
                    channel="online",
                    amount_minor=5000,
                    currency="EUR",
                    base_amount_minor=5000,
                    placed_at=NOW - age - timedelta(days=k),
                    status="delivered",
                )
            )
    with database.transaction() as session:
        ids = upsert_customers(session, people, NOW).customer_ids
        upsert_orders(session, orders, NOW)
    return ids


def _first(pattern: str, page: str) -> str:
    """The first group of `pattern` on the page, unescaped."""
    found = re.search(pattern, page, re.S)
    assert found, f"{pattern!r} not on the page"
    return html.unescape(found[1])


def _count(page: str, key: str) -> int:
    found = re.search(rf'id="{key}-sample-heading"', page)
    assert found, f"no {key} figures on the page"
    counts = re.findall(r'data-count="(\d+)"', page)
    return int(counts[0 if key == "saved" else 1])


async def test_the_list_shows_each_workflow_with_its_expression(
    marketer_client: httpx.AsyncClient,
) -> None:
    page = await marketer_client.get("/studio/audiences")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for name in ("birthday", "thank-you", "vip", "welcome", "win-back"):
        assert f'href="/studio/audiences/{name}"' in text
    assert "- last_order_at: {before: 90 days ago}" in text
    assert "top: {percent: 20, by: spent_365d}" in text
    assert '<a href="/studio/audiences" aria-current="page">Audiences</a>' in text


async def test_an_audience_shows_its_count_sample_and_sql(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    ids = _shoppers(database, 30)
    lapsed = sorted(ids[f"shopper{n:03d}@example.com"] for n in range(0, 30, 3))
    page = await marketer_client.get("/studio/audiences/win-back")
    assert page.status_code == 200
    assert _count(page.text, "saved") == 10
    links = [int(i) for i in re.findall(r'<a href="/studio/customers/(\d+)">', page.text)]
    assert links == lapsed
    sql = _first(r'<pre class="sql-text"><code>(.*?)</code>', page.text)
    assert "FROM customer" in sql and "customer.orders_count >= 1" in sql
    cutoff = (NOW - timedelta(days=90)).strftime("%Y-%m-%d %H:%M:%S")
    assert re.search(rf"customer\.last_order_at < '{cutoff}", sql), sql
    assert ("postgresql" if database.is_postgresql else "sqlite") in page.text
    # The form starts from the file's own expression, comments kept.
    textarea = re.search(r'<textarea id="expression"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert textarea and html.unescape(textarea[1]) == (
        "all:\n  - orders_count: {gte: 1}\n  - last_order_at: {before: 90 days ago}"
    )
    assert "the studio does not change workflow files" in page.text


async def test_an_edited_expression_is_counted_beside_the_saved_one(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    _shoppers(database, 30)
    page = await marketer_client.get("/studio/audiences/win-back")
    tried = await marketer_client.post(
        "/studio/audiences/win-back",
        data={
            "expression": "orders_count: {gte: 3}  # loyal ones\n",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert tried.status_code == 200
    # n % 4 + 1 >= 3 for n % 4 in (2, 3): 2, 3, 6, 7, ..., 26, 27: 14 of 30
    assert (_count(tried.text, "saved"), _count(tried.text, "tried")) == (10, 14)
    assert '<dd class="change">+4</dd>' in tried.text
    assert "customer.orders_count &gt;= 3" in tried.text


async def test_predicted_fields_are_listed_and_can_be_tried(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    ids = _shoppers(database, 12)
    rows = [  # shoppers 0-7 have a churn risk of n / 10; 8-11 are not predicted yet
        CustomerPrediction(ids[f"shopper{n:03d}@example.com"], 1 - n / 10, n / 10, 0.5,
                           None, None, None, NOW)
        for n in range(8)
    ]  # fmt: skip
    with database.transaction() as session:
        write_predictions(session, rows)
    page = await marketer_client.get("/studio/audiences/win-back")
    text = html.unescape(page.text)
    for name in (
        "p_active", "churn_risk", "expected_orders_90d", "predicted_value_365d",
        "predicted_next_order_at", "best_send_hour",
    ):  # fmt: skip
        assert f"<tr><td><code>{name}</code></td>" in text
    assert "<td>eq, ne, gt, gte, lt, lte, is_set</td>" in text
    assert "(within: N days = in the next N days)</td><td>before, after, within, is_set" in text
    for expression, count in (("churn_risk: {gte: 0.6}", 2), ("churn_risk: {ne: 0.6}", 7)):
        tried = await marketer_client.post(
            "/studio/audiences/win-back",
            data={"expression": expression, "csrf_token": csrf_token(page.text)},
        )
        assert tried.status_code == 200
        assert _count(tried.text, "tried") == count


async def test_a_mistake_in_the_expression_is_shown_at_its_line_and_column(
    marketer_client: httpx.AsyncClient,
) -> None:
    page = await marketer_client.get("/studio/audiences/win-back")
    token = csrf_token(page.text)
    expression = "all:\n  - orders_cnt: {gte: 1}\n  - city: {near: Berlin}\n"
    answer = await marketer_client.post(
        "/studio/audiences/win-back", data={"expression": expression, "csrf_token": token}
    )
    assert answer.status_code == 422
    problems = [
        html.unescape(p) for p in re.findall(r'<p class="line-problem">(.*?)</p>', answer.text)
    ]
    assert problems[0].startswith(
        "<span class=\"where\">expression:</span>2:5 unknown field 'orders_cnt' in condition "
        "(did you mean 'orders_count'?)"
    )
    assert problems[1].startswith(
        "<span class=\"where\">expression:</span>3:12 unknown operator 'near' (did you mean 'ne'?)"
    )
    marked = re.findall(
        r'<li class="has-problem"><span class="line-number">(\d+)</span>', answer.text
    )
    assert marked == ["2", "3"]
    assert 'id="tried-sample-heading"' not in answer.text  # nothing counted

    broken = await marketer_client.post(
        "/studio/audiences/win-back",
        data={"expression": "orders_count: {gte: 1\n", "csrf_token": token},
    )
    assert broken.status_code == 422
    said = _first(r'<p class="line-problem">(.*?)</p>', broken.text)
    assert re.match(r'<span class="where">expression:</span>2:1 invalid YAML', said), said


async def test_a_try_out_without_the_form_token_is_refused(
    marketer_client: httpx.AsyncClient,
) -> None:
    answer = await marketer_client.post(
        "/studio/audiences/win-back", data={"expression": "orders_count: {gte: 1}"}
    )
    assert answer.status_code == 403
    assert "This form has expired" in answer.text


async def test_support_may_not_open_audiences_and_strangers_must_log_in(
    support_client: httpx.AsyncClient, studio_client: httpx.AsyncClient
) -> None:
    refused = await support_client.get("/studio/audiences/win-back")
    assert refused.status_code == 403
    assert "This page is for: admin, marketer" in refused.text
    assert "/studio/audiences" not in _first(r'<nav class="nav"(.*?)</nav>', refused.text)
    anonymous = await studio_client.get("/studio/audiences", headers={"accept": "text/html"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/studio/login?next=/studio/audiences"


async def test_an_unknown_workflow_is_not_found(marketer_client: httpx.AsyncClient) -> None:
    answer = await marketer_client.get("/studio/audiences/no-such-thing")
    assert answer.status_code == 404
    assert "No such workflow" in answer.text


async def test_a_count_past_the_time_limit_is_stopped_and_said(
    admin_client: httpx.AsyncClient, studio_app: FastAPI, database: Database
) -> None:
    if database.is_postgresql:
        pytest.skip(
            "PostgreSQL counts 300 customers within its 1 ms minimum timeout; "
            "tests/store/test_customer_view_queries.py stops a statement there"
        )
    _shoppers(database, 300)
    context: StudioContext = studio_app.state.studio
    hurried = context.settings.model_copy(
        update={"studio": context.settings.studio.model_copy(update={"query_seconds": 1e-6})}
    )
    studio_app.state.studio = dataclasses.replace(context, settings=hurried)
    page = await admin_client.get("/studio/audiences/vip")
    assert page.status_code == 200
    alert = _first(r'<p class="alert alert-error" role="alert">(.*?)</p>', page.text)
    assert alert.startswith("counting this audience took longer than 1e-06 s and was stopped")
