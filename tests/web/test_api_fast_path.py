"""`POST /v1/events` taken before routing: the common request is stored by the fast path with
the route's own answer, and every other request reaches the route, which refuses it as
documented. Compared with the route itself (a query string sends a request there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mailengine.web import api, api_fast_path, event_api
from tests.web.conftest import AUTH

Counter = Callable[[], int]


@pytest.fixture
def taken_fast(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """How many events the fast path itself took (built without a refusal)."""
    calls: list[object] = []
    real = event_api.single_event

    def counting(*args: Any, **kwargs: Any) -> Any:
        event = real(*args, **kwargs)
        calls.append(event)
        return event

    monkeypatch.setattr(api_fast_path, "single_event", counting)
    return lambda: len(calls)


def _event(**changes: Any) -> dict[str, Any]:
    return {"type": "product.viewed", "email": "Fast@Example.com", "data": {"sku": "A1"}, **changes}


async def _post(
    client: httpx.AsyncClient,
    body: Any,
    key: str | None,
    *,
    route: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**AUTH, **({"Idempotency-Key": key} if key else {}), **(headers or {})}
    url = "/v1/events?via=route" if route else "/v1/events"
    return await client.post(url, json=body, headers=sent)


async def test_a_common_event_is_stored_by_the_fast_path_with_the_route_s_answer(
    client: httpx.AsyncClient, taken_fast: Counter
) -> None:
    fast = await _post(client, _event(), "fast-1")
    assert taken_fast() == 1
    routed = await _post(client, _event(), "route-1", route=True)
    assert taken_fast() == 1
    assert fast.status_code == routed.status_code == 202
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert set(fast.json()) == set(routed.json())
    assert fast.json()["customer_id"] == routed.json()["customer_id"]  # one customer, by email
    assert fast.json()["event_id"] != routed.json()["event_id"]
    # A retry is a replay, by either path, of the first answer.
    again = await _post(client, _event(), "fast-1")
    assert again.json() == fast.json() and again.headers["Idempotent-Replayed"] == "true"
    again_routed = await _post(client, _event(), "fast-1", route=True)
    assert again_routed.json() == fast.json()
    assert again_routed.headers["Idempotent-Replayed"] == "true"
    # The same key with another body is refused alike.
    other = await _post(client, _event(data={"sku": "B2"}), "fast-1")
    other_routed = await _post(client, _event(data={"sku": "B2"}), "fast-1", route=True)
    assert other.status_code == other_routed.status_code == 409
    assert other.json() == other_routed.json()


@pytest.mark.parametrize(
    ("body", "key", "headers", "status", "field"),
    [
        (_event(), "k", {"Authorization": "Bearer me_not-a-known-key"}, 401, None),
        (_event(), "k", {"Authorization": "Basic abc"}, 401, None),
        (_event(email="not an address"), "k", {}, 422, ["body", "email"]),
        (_event(type="order.placed"), "k", {}, 422, ["body", "type"]),
        (_event(data=[1, 2]), "k", {}, 422, ["body", "data"]),
        ({"email": "a@example.com"}, "k", {}, 422, ["body", "type"]),
        (_event(), "has space", {}, 422, ["header", "Idempotency-Key"]),
        (_event(), "x" * 201, {}, 422, ["header", "Idempotency-Key"]),
    ],
)
async def test_anything_else_is_answered_by_the_route(
    client: httpx.AsyncClient,
    taken_fast: Counter,
    body: Any,
    key: str,
    headers: dict[str, str],
    status: int,
    field: list[str] | None,
) -> None:
    fast = await _post(client, body, key, headers=headers)
    routed = await _post(client, body, key, route=True, headers=headers)
    assert taken_fast() == 0
    assert fast.status_code == routed.status_code == status
    assert fast.json() == routed.json()
    if field is not None:
        assert [problem["loc"] for problem in fast.json()["detail"]] == [field]


async def test_a_body_that_is_not_json_is_answered_by_the_route(
    client: httpx.AsyncClient, taken_fast: Counter
) -> None:
    headers = {**AUTH, "Content-Type": "text/plain"}
    answer = await client.post("/v1/events", content=b'{"type": "x"}', headers=headers)
    broken = await client.post(
        "/v1/events", content=b'{"type": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert taken_fast() == 0
    assert answer.status_code == broken.status_code == 422


ORDER = {
    "external_id": "FP-1",
    "email": "fast@example.com",
    "amount": "59.90",
    "placed_at": "2026-11-22T18:30:00+01:00",
    "items": [{"sku": "TS-1", "name": "Linen shirt", "quantity": 1, "unit_price": "59.90"}],
}


async def test_a_common_order_is_written_by_the_fast_path_with_the_route_s_answer(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[object] = []
    real = api.order_answer

    def counting(*args: Any) -> Any:
        answering = real(*args)
        taken.append(answering)
        return answering

    monkeypatch.setattr(api_fast_path, "order_answer", counting)
    headers = {**AUTH, "Idempotency-Key": "order-fast"}
    fast = await client.post("/v1/orders", json=ORDER, headers=headers)
    routed = await client.post(
        "/v1/orders?via=route", json={**ORDER, "external_id": "FP-2"}, headers=AUTH
    )
    assert len(taken) == 1
    assert fast.status_code == routed.status_code == 201
    assert fast.json()["external_id"] == "FP-1" and routed.json()["external_id"] == "FP-2"
    assert fast.json()["customer_id"] == routed.json()["customer_id"]
    replayed = await client.post("/v1/orders", json=ORDER, headers=headers)
    assert replayed.json() == fast.json() and replayed.headers["Idempotent-Replayed"] == "true"
    refused = await client.post("/v1/orders", json={**ORDER, "amount": "59.999"}, headers=AUTH)
    assert refused.status_code == 422 and len(taken) == 2  # replay taken; refusal by the route
    assert [problem["loc"] for problem in refused.json()["detail"]] == [["body", "amount"]]
