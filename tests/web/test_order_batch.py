"""`POST /v1/orders:batch`: up to 1,000 orders in one transaction, a result per order in
order, a refused one never stopping the rest, and the batch's key replaying the answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailengine.store.customers import customer_table
from mailengine.store.database import Database
from mailengine.store.events import event_table
from mailengine.store.orders import order_table, refresh_all_figures
from mailengine.web import order_batch_api
from tests.conftest import NOW
from tests.web.conftest import AUTH

BATCH = "/v1/orders:batch"


def _order(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": f"B-{number}",
        "email": f"buyer{number % 3}@example.com",
        "amount": "20.00",
        "placed_at": "2026-11-22T18:30:00+01:00",
        **changes,
    }


def _stored(database: Database) -> tuple[list[str], list[str]]:
    with database.session() as session:
        orders = session.execute(select(order_table.c.external_id).order_by(order_table.c.id))
        placed = session.execute(
            select(event_table.c.type).where(event_table.c.type == "order.placed")
        )
        return [str(row[0]) for row in orders], [str(row[0]) for row in placed]


async def test_each_order_gets_its_result_in_order_and_a_refused_one_stops_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    orders = [_order(1), _order(2, amount="-1"), _order(3, email="nobody"), _order(4)]
    answer = await client.post(BATCH, json={"orders": orders}, headers=AUTH)
    assert answer.status_code == 200
    out = answer.json()
    assert (out["accepted"], out["updated"], out["refused"]) == (2, 0, 2)
    results = out["results"]
    assert [item["status"] for item in results] == ["accepted", "refused", "refused", "accepted"]
    assert results[1]["field"] == ["body", "orders", 1, "amount"]
    assert results[2]["field"] == ["body", "orders", 2, "email"]
    assert [results[0]["external_id"], results[3]["external_id"]] == ["B-1", "B-4"]
    assert all(isinstance(results[i]["event_id"], int) for i in (0, 3))
    assert _stored(database) == (["B-1", "B-4"], ["order.placed"] * 2)
    # Sent again: the same orders are updates, nothing is placed twice.
    again = await client.post(BATCH, json={"orders": [_order(1, status="paid")]}, headers=AUTH)
    assert again.json()["results"][0]["status"] == "updated"
    assert _stored(database) == (["B-1", "B-4"], ["order.placed"] * 2)


async def test_the_batch_key_replays_the_answer_and_another_body_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {**AUTH, "Idempotency-Key": "import-7"}
    body = {"orders": [_order(number) for number in range(50)]}
    first = await client.post(BATCH, json=body, headers=headers)
    retried = await client.post(BATCH, json=body, headers=headers)
    assert first.json()["accepted"] == 50
    assert retried.json() == first.json() and retried.headers["Idempotent-Replayed"] == "true"
    other = await client.post(BATCH, json={"orders": [_order(99)]}, headers=headers)
    assert other.status_code == 409
    assert len(_stored(database)[0]) == 50


async def test_more_than_a_thousand_orders_or_none_are_refused(client: httpx.AsyncClient) -> None:
    many = await client.post(BATCH, json={"orders": [_order(1)] * 1001}, headers=AUTH)
    none = await client.post(BATCH, json={"orders": []}, headers=AUTH)
    unknown = await client.post(BATCH, json={"orders": [_order(1)]})
    assert many.status_code == none.status_code == 422
    assert many.json()["detail"][0]["loc"] == ["body", "orders"]
    assert unknown.status_code == 401


async def test_an_order_twice_in_one_batch_is_placed_once_then_updated(
    client: httpx.AsyncClient, database: Database
) -> None:
    orders = [_order(1), _order(2), _order(1, status="paid")]
    out = (await client.post(BATCH, json={"orders": orders}, headers=AUTH)).json()
    assert [item["status"] for item in out["results"]] == ["accepted", "accepted", "updated"]
    assert "event_id" not in out["results"][2]
    assert _stored(database) == (["B-1", "B-2"], ["order.placed"] * 2)


async def test_when_writing_together_fails_each_order_is_written_alone(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the group failed")

    monkeypatch.setattr(order_batch_api, "write_orders", failing)
    orders = [_order(1), _order(2, amount="-1"), _order(3)]
    out = (await client.post(BATCH, json={"orders": orders}, headers=AUTH)).json()
    assert [item["status"] for item in out["results"]] == ["accepted", "refused", "accepted"]
    assert _stored(database) == (["B-1", "B-3"], ["order.placed"] * 2)


async def test_concurrent_orders_are_written_together_and_each_answered_as_alone(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailengine.store import order_intake

    groups: list[int] = []
    real = order_intake.write_orders

    def counting(session: Any, records: Any, now: Any, **looked_up: Any) -> Any:
        groups.append(len(records))
        return real(session, records, now, **looked_up)

    monkeypatch.setattr(order_intake, "write_orders", counting)

    async def post(number: int, key: str, **changes: Any) -> httpx.Response:
        headers = {**AUTH, "Idempotency-Key": key}
        return await client.post("/v1/orders", json=_order(number, **changes), headers=headers)

    first = await asyncio.gather(*(post(n, f"o{n}") for n in range(60)))
    again = await asyncio.gather(*(post(n, f"o{n}") for n in range(0, 60, 6)))
    updated = await post(5, "o5-paid", status="paid")
    reused = await post(6, "o7")  # the key of another order
    assert max(groups) > 1  # concurrent requests shared a write
    assert {answer.status_code for answer in first} == {201}
    assert [answer.json()["external_id"] for answer in first] == [f"B-{n}" for n in range(60)]
    assert [a.json() for a in again] == [first[n].json() for n in range(0, 60, 6)]
    assert all(answer.headers["Idempotent-Replayed"] == "true" for answer in again)
    assert updated.status_code == 200 and updated.json()["created"] is False
    assert reused.status_code == 409
    orders, placed = _stored(database)
    assert sorted(orders) == sorted(f"B-{n}" for n in range(60)) and len(placed) == 60


async def test_a_thousand_orders_store_their_own_values_events_and_figures(
    client: httpx.AsyncClient, database: Database
) -> None:
    """1,000 orders over 37 customers, some known before, one refused: each stored row,
    `order.placed` event and answer is its own order's, and each customer's figures are what
    a refresh from scratch gives."""
    before = [_order(n, email=f"f{n % 37}@example.com", amount="5.00") for n in range(0, 40)]
    await client.post(BATCH, json={"orders": before}, headers=AUTH)
    orders = [
        _order(n, email=f"f{n % 37}@example.com", amount=f"{n}.50", status="paid")
        for n in range(20, 1020)
    ]
    orders[500] = _order(520, amount="ten")
    out = (await client.post(BATCH, json={"orders": orders}, headers=AUTH)).json()
    results = out["results"]
    assert (out["accepted"], out["updated"], out["refused"]) == (979, 20, 1)
    assert [item["status"] for item in results[:21]] == ["updated"] * 20 + ["accepted"]
    assert results[500]["status"] == "refused"
    assert [item.get("external_id") for item in results] == [
        None if i == 500 else f"B-{n}" for i, n in enumerate(range(20, 1020))
    ]
    with database.session() as session:
        o, e = order_table.c, event_table.c
        stored = {
            row.external_id: row
            for row in session.execute(select(o.external_id, o.amount_minor, o.status))
        }
        events = dict(session.execute(select(e.id, e.data).where(e.type == "order.placed")).all())
        figures = {
            row.id: (row.orders_count, row.total_spent_minor)
            for row in session.execute(select(customer_table.c.id, *_FIGURES))
        }
    assert len(stored) == 1019 and stored["B-20"].amount_minor == 2050
    assert stored["B-20"].status == "paid" and stored["B-39"].amount_minor == 3950
    for item in results[21:]:
        if item["status"] == "accepted":
            assert events[item["event_id"]]["external_id"] == item["external_id"]
    ids = sorted(item["event_id"] for item in results if item["status"] == "accepted")
    assert ids == [item["event_id"] for item in results if item["status"] == "accepted"]
    with database.transaction() as session:
        refresh_all_figures(session, NOW)
    with database.session() as session:
        again = {
            row.id: (row.orders_count, row.total_spent_minor)
            for row in session.execute(select(customer_table.c.id, *_FIGURES))
        }
    assert again == figures and sum(count for count, _ in figures.values()) == 1019


_FIGURES = (customer_table.c.orders_count, customer_table.c.total_spent_minor)


async def test_an_order_key_stored_by_another_process_meanwhile_falls_back_to_one_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a group of orders reads (answers, customers, orders) in one round trip
    and writes after: another process that stores one of its keys and orders in between
    makes the group roll back to its savepoint and answer each request alone. That key is
    answered with the other process's answer; every order is stored once, announced once."""
    if not database.is_postgresql:
        pytest.skip("SQLite's writers take the lock before they read: no such race")
    from mailengine.store import order_intake, pipelined
    from mailengine.store.order_intake import IncomingOrder, store_orders
    from mailengine.store.records import OrderUpsert

    def order(n: int) -> IncomingOrder:
        record = OrderUpsert(external_id=f"R-{n}", email=f"r{n % 2}@example.com", channel="web",
                             amount_minor=1000, currency="EUR", base_amount_minor=1000,
                             placed_at=NOW)  # fmt: skip
        return IncomingOrder("c" * 64, f"k{n}", f"h{n}", record)

    real = pipelined.look_up
    theirs: list[Any] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not theirs:
            theirs.append(None)
            with database.transaction() as other:  # another process, after the lookups
                theirs[0] = store_orders(other, [order(1)], "POST /v1/orders", NOW)[0]
        return found

    monkeypatch.setattr(order_intake, "look_up", racing)
    with database.transaction() as session:
        ours = store_orders(session, [order(n) for n in range(4)], "POST /v1/orders", NOW)
    assert [(a.status_code, a.replayed) for a in ours] == [
        (201, False), (201, True), (201, False), (201, False),
    ]  # fmt: skip
    assert ours[1].body == theirs[0].body
    orders, placed = _stored(database)
    assert sorted(orders) == [f"R-{n}" for n in range(4)] and len(placed) == 4
    assert len({a.body["event_id"] for a in ours}) == 4
