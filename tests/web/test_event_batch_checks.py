"""A batch's items checked by hand in their common form give the answers the model gives;
the fast path answers a batch as the route does; stored values round-trip on both databases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.web import event_api
from mailengine.web.request_limits import MAX_JSON_NESTING, _shallow, too_deep_field
from tests.conftest import NOW
from tests.web.conftest import AUTH

BATCH = "/v1/events:batch"


def _item(**changes: Any) -> dict[str, Any]:
    return {"type": "product.viewed", "email": "Ada@Example.com", "data": {"sku": "A1"}, **changes}


# Items near every edge of what the hand check takes: each must get the model's answer.
ITEMS = [
    _item(),
    _item(id="shop-1"),
    _item(id=None),
    _item(data={"name": "Müller", "price": 19.9, "tags": ["a", "b"], "nested": {"n": 1}}),
    _item(type="Product.viewed"),
    _item(type="product.viewed\n"),
    _item(type="x" * 101),
    _item(type="order.placed"),
    _item(type=7),
    _item(email="  Grace@Example.com "),
    _item(email="a@b"),
    _item(email="not an address"),
    _item(email="x" * 250 + "@example.com"),
    _item(email=None),
    _item(data=None),
    _item(data=[1]),
    _item(data={"bad\nkey": 1}),
    _item(data={"text": "two\nlines"}),
    _item(data={"text": "bell\x07"}),
    _item(data={"text": "del\x7f"}),
    _item(data={"text": "back\\slash"}),
    _item(data={"line\u2028sep": 1}),
    _item(data={"big": "x" * 16_400}),
    _item(data={"deep": json.loads("[" * 16 + "]" * 16)}),
    _item(data={"deep": json.loads("[" * 15 + "]" * 15)}),
    _item(data={"n": float("inf")}),
    _item(id="has space"),
    _item(id=""),
    _item(id=5),
    _item(occurred_at="2026-11-20T10:00:00+01:00"),
    _item(unknown=1),
    {"email": "a@example.com"},
]


# What can travel as JSON (not an infinite number).
SENT = [raw for raw in ITEMS if raw.get("data") != {"n": float("inf")}]


@pytest.mark.parametrize("position", range(len(ITEMS)))
def test_the_hand_check_answers_as_the_model(
    position: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = ITEMS[position]

    def check(plain: bool) -> Any:
        if not plain:
            monkeypatch.setattr(event_api, "_plain_item", lambda raw: None)
        return event_api._checked_item(None, raw, position, "c" * 64, "k", NOW)  # type: ignore[arg-type]

    by_hand = event_api._plain_item(raw)
    if by_hand is None:  # left to the model: nothing to compare
        return
    quick = check(plain=True)
    modelled = check(plain=False)
    if isinstance(modelled, dict):
        pytest.fail(f"taken by hand but refused by the model: {modelled}")
    assert quick._replace(occurred_at=None) == modelled._replace(occurred_at=None)
    assert quick.occurred_at == modelled.occurred_at == NOW


def test_the_hand_check_takes_the_common_items() -> None:
    taken = [event_api._plain_item(raw) is not None for raw in ITEMS[:4]]
    assert taken == [True, True, True, True]
    assert event_api._plain_item(_item(email=" Ada@Example.COM")) == (
        "product.viewed", "ada@example.com", {"sku": "A1"}, None,
    )  # fmt: skip


async def test_a_batch_is_answered_alike_by_the_fast_path_and_the_route(
    client: httpx.AsyncClient, database: Database
) -> None:
    fast = await client.post(BATCH, json={"events": SENT}, headers={**AUTH, "Idempotency-Key": "f"})
    routed = await client.post(
        f"{BATCH}?via=route", json={"events": SENT}, headers={**AUTH, "Idempotency-Key": "r"}
    )
    assert fast.status_code == routed.status_code == 200
    one, other = fast.json(), routed.json()
    # Items with their own id are stored once: the second batch replays them.
    assert [r["status"] for r in one["results"]] == [
        "accepted" if r["status"] == "replayed" else r["status"] for r in other["results"]
    ]
    assert other["replayed"] == 1 and one["replayed"] == 0
    assert [r.get("field") for r in one["results"]] == [r.get("field") for r in other["results"]]
    assert [r.get("reason") for r in one["results"]] == [r.get("reason") for r in other["results"]]
    assert one["refused"] == other["refused"] > 10
    # A retry by the other way is a replay of the first answer; another body is refused.
    again = await client.post(
        f"{BATCH}?via=route", json={"events": SENT}, headers={**AUTH, "Idempotency-Key": "f"}
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == one
    changed = await client.post(
        BATCH, json={"events": SENT[:3]}, headers={**AUTH, "Idempotency-Key": "r"}
    )
    assert changed.status_code == 409


async def test_stored_values_round_trip(client: httpx.AsyncClient, database: Database) -> None:
    items = [
        _item(data={"name": "Zoë ☕ 𝄞", "price": 19.9, "list": [1, {"a": None}]}),
        _item(occurred_at="2026-11-20T10:00:00+05:30", data={"n": 2}),
        _item(data={"n": 3}, id="own-3"),
        _item(data={"order": 2**70, "small": -(2**63), "text": "Zoë"}),  # past orjson's integers
    ]
    answer = await client.post(BATCH, json={"events": items}, headers=AUTH)
    results = answer.json()["results"]
    e = event_table.c
    with database.session() as session:
        rows = {
            row.id: row
            for row in session.execute(
                select(e.id, e.data, e.occurred_at, e.received_at, e.idempotency_key)
            )
        }
    stored = [rows[result["event_id"]] for result in results]
    assert [row.data for row in stored] == [item["data"] for item in items]
    india = timezone(timedelta(hours=5, minutes=30))
    assert stored[1].occurred_at == datetime(2026, 11, 20, 10, 0, tzinfo=india)
    assert stored[0].occurred_at == stored[0].received_at
    assert stored[0].occurred_at.astimezone(UTC).year == NOW.year
    assert [row.idempotency_key for row in stored] == [None, None, "event:own-3", None]


async def test_data_is_limited_by_its_size_as_stored(client: httpx.AsyncClient) -> None:
    """16,384 bytes of compact UTF-8 JSON: `{"big":"..."}` is the text and 10 bytes more; an
    "é" takes two bytes."""
    items = [
        _item(data={"big": "x" * 16_374}),
        _item(data={"big": "x" * 16_375}),
        _item(data={"big": "é" * 8_187}),
        _item(data={"big": "é" * 8_188}),
    ]
    answer = await client.post(BATCH, json={"events": items}, headers=AUTH)
    results = answer.json()["results"]
    assert [result["status"] for result in results] == [
        "accepted", "refused", "accepted", "refused",
    ]  # fmt: skip
    assert results[1]["field"] == ["body", "events", 1, "data"]
    assert "over 16384 bytes as JSON" in results[1]["reason"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": [1, {"b": [2]}], "c": "[[[["}',
        b'{"a": "]]]]", "b": [[[]]]}',
        b'{"a": ' + b"[" * MAX_JSON_NESTING + b"]" * MAX_JSON_NESTING + b"}",
        b'{"a": ' + b"[" * (MAX_JSON_NESTING - 1) + b"]" * (MAX_JSON_NESTING - 1) + b"}",
        b'{"s": "' + b"[" * 100 + b'", "a": [[1]]}',
        b'{"events": [' + b",".join([b'{"d": {"x": [1, 2]}}'] * 1000) + b"]}",
    ],
)
def test_the_quick_depth_check_agrees_with_the_walk(body: bytes) -> None:
    walked = too_deep_field(body) is None
    if _shallow(body):
        assert walked
    # A body nested too deep is never taken as shallow.
    assert too_deep_field(b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}") == "a"
    assert not _shallow(b"[" * 65 + b"]" * 65)
