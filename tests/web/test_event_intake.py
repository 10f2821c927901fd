"""Events stored a group at a time: concurrent requests share a transaction and are answered
only once it commits; batches of up to 1,000 with a result per item. On SQLite and
PostgreSQL, through the app as `mailengine run` builds it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from mailengine.store.event_intake import IncomingEvent, store_events
from mailengine.store.events import event_table
from mailengine.web import intake as intake_module
from tests.conftest import NOW
from tests.web.conftest import AUTH

BATCH = "/v1/events:batch"


def _stored(database: Database) -> list[dict[str, Any]]:
    e = event_table.c
    with database.session() as session:
        rows = session.execute(select(e.id, e.type, e.idempotency_key, e.data).order_by(e.id))
        return [dict(row._mapping) for row in rows]


def _event(number: int, **changes: Any) -> dict[str, Any]:
    return {"type": "product.viewed", "email": f"p{number % 7}@example.com",
            "data": {"sku": f"S{number}"}, **changes}  # fmt: skip


async def test_concurrent_events_share_transactions_and_each_is_stored_once(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    real_write = intake_module.Intake._write

    def counting(self: intake_module.Intake, pieces: list[Any]) -> None:
        groups.append(len(pieces))
        real_write(self, pieces)

    monkeypatch.setattr(intake_module.Intake, "_write", counting)

    async def post(number: int, key: str) -> httpx.Response:
        headers = {**AUTH, "Idempotency-Key": key}
        return await client.post("/v1/events", json=_event(number), headers=headers)

    first = await asyncio.gather(*(post(n, f"k{n}") for n in range(200)))
    again = await asyncio.gather(*(post(n, f"k{n}") for n in range(0, 200, 10)))
    assert {answer.status_code for answer in first + again} == {202}
    assert all(answer.headers.get("Idempotent-Replayed") == "true" for answer in again)
    assert [a.json() for a in again] == [first[n].json() for n in range(0, 200, 10)]
    stored = _stored(database)
    assert len(stored) == 200 == len({row["idempotency_key"] for row in stored})
    assert sorted(row["data"]["sku"] for row in stored) == sorted(f"S{n}" for n in range(200))
    assert sum(groups) == 220 and max(groups) > 1  # requests were stored together


async def test_a_key_used_twice_in_one_group_replays_or_conflicts(
    database: Database, clock: FrozenClock
) -> None:
    def event(key: str | None, sku: str, event_key: str | None = None) -> IncomingEvent:
        return IncomingEvent(
            client="c" * 64, request_key=key, request_hash=sku, email="a@example.com",
            type="product.viewed", data={"sku": sku}, occurred_at=NOW, event_key=event_key,
        )  # fmt: skip

    group = [
        event("k1", "one", "event:x:k1"), event("k1", "one", "event:x:k1"),
        event("k1", "other", "event:x:k1"), event(None, "id-1", "event:id-1"),
        event(None, "id-1", "event:id-1"), event(None, "plain"),
    ]  # fmt: skip
    with database.transaction() as session:
        answers = store_events(session, group, "POST /v1/events", NOW)
    assert [(a.status_code, a.replayed) for a in answers] == [
        (202, False), (202, True), (409, False), (202, False), (202, False), (202, False),
    ]  # fmt: skip
    assert answers[1].body == answers[0].body
    assert answers[4].body == {**answers[3].body, "duplicate": True}
    assert len(_stored(database)) == 3
    with database.transaction() as session:  # later groups see what was stored
        later = store_events(session, group[:2] + group[3:4], "POST /v1/events", NOW)
    assert [(a.status_code, a.replayed) for a in later] == [(202, True), (202, True), (202, False)]
    assert later[2].body["duplicate"] is True
    assert len(_stored(database)) == 3


async def test_a_key_stored_by_another_process_meanwhile_falls_back_to_one_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stores one of the group's keys between its lookups and its inserts:
    the group's insert fails on the unique index inside its savepoint, and the events are
    stored one by one; nothing is lost and nothing twice, and the key taken meanwhile is
    answered with the other process's answer."""
    if not database.is_postgresql:
        pytest.skip("SQLite's writers take the lock before they read: no such race")
    from mailengine.store import pipelined, pipelined_events

    def event(n: int) -> IncomingEvent:
        return IncomingEvent("c" * 64, f"k{n}", f"h{n}", "a@example.com", "product.viewed",
                             {"n": n}, NOW, f"event:x:k{n}")  # fmt: skip

    real = pipelined.look_up
    calls = {"n": 0}

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        found = real(*args, **kwargs)
        if calls["n"] > 1:
            return found
        with database.transaction() as other:  # another process, after the lookups
            [theirs] = store_events(other, [event(2)], "POST /v1/events", NOW)
        answers["theirs"] = theirs.body
        return found

    answers: dict[str, Any] = {}
    monkeypatch.setattr(pipelined_events, "look_up", racing)
    group = [event(n) for n in range(5)]
    with database.transaction() as session:
        ours = store_events(session, group, "POST /v1/events", NOW)
    assert calls["n"] == 2  # the group's, then the other process's own
    assert [(a.status_code, a.replayed) for a in ours] == [(202, False)] * 2 + [(202, True)] + [
        (202, False)
    ] * 2
    assert ours[2].body == answers["theirs"]
    assert len(_stored(database)) == 5
    assert len({a.body["event_id"] for a in ours}) == 5


async def test_a_group_on_sqlite_is_written_without_a_savepoint(sqlite_database: Database) -> None:
    """A unit of work on SQLite holds the write lock from its start, so no other process can
    store a key meanwhile: its group is written without a savepoint to fall back from."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    group = [
        IncomingEvent("c" * 64, f"k{n}", f"h{n}", "a@example.com", "product.viewed", {"n": n},
                      NOW, f"event:x:k{n}")
        for n in range(3)
    ]  # fmt: skip
    event.listen(sqlite_database.engine, "before_cursor_execute", record)
    try:
        with sqlite_database.transaction() as session:
            answers = store_events(session, group, "POST /v1/events", NOW)
    finally:
        event.remove(sqlite_database.engine, "before_cursor_execute", record)
    assert [a.status_code for a in answers] == [202] * 3
    assert len(_stored(sqlite_database)) == 3
    assert statements and not [s for s in statements if "SAVEPOINT" in s.upper()]


async def test_a_group_on_postgresql_is_two_round_trips_and_the_commit(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a group of events of known customers is written in two pipelines (the
    lookups; the savepoint, the statement and the release), nothing one statement at a time
    through SQLAlchemy, and retries of its keys replay the stored answers."""
    if not database.is_postgresql:
        pytest.skip("the pipelines are PostgreSQL's")
    from psycopg import Connection

    group = [
        IncomingEvent("c" * 64, f"k{n}", f"h{n}", "a@example.com", "product.viewed", {"n": n},
                      NOW, f"event:x:k{n}")
        for n in range(3)
    ]  # fmt: skip
    with database.transaction() as session:  # the customer exists from here on
        first = store_events(session, group[:1], "POST /v1/events", NOW)
    statements: list[str] = []
    pipelines: list[int] = []
    real_pipeline = Connection.pipeline

    def counting(self: Connection[Any]) -> Any:
        pipelines.append(1)
        return real_pipeline(self)

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    monkeypatch.setattr(Connection, "pipeline", counting)
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.transaction() as session:
            answers = store_events(session, group, "POST /v1/events", NOW)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert [(a.status_code, a.replayed) for a in answers] == [(202, True)] + [(202, False)] * 2
    assert answers[0].body == first[0].body
    assert (statements, len(pipelines)) == ([], 2)
    assert len(_stored(database)) == 3
    with database.transaction() as session:
        again = store_events(session, group, "POST /v1/events", NOW)
    assert [a.body for a in again] == [a.body for a in answers]
    assert all(a.replayed for a in again)


async def test_a_batch_answers_each_item_in_order_and_stores_the_good_ones(
    client: httpx.AsyncClient, database: Database
) -> None:
    items = [
        _event(0, id="shop-1"),
        {"type": "Bad Type", "email": "x@example.com"},
        _event(2),
        {"type": "order.placed", "email": "y@example.com"},
        {"type": "ok", "email": "not an address"},
        _event(5, id="shop-1"),
        _event(6, unknown_field=1),
    ]
    answer = await client.post(BATCH, json={"events": items}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert (out["accepted"], out["replayed"], out["refused"]) == (2, 1, 4)
    statuses = [item["status"] for item in out["results"]]
    assert statuses == ["accepted", "refused", "accepted", "refused", "refused", "replayed",
                        "refused"]  # fmt: skip
    assert out["results"][1]["field"] == ["body", "events", 1, "type"]
    assert out["results"][3]["field"] == ["body", "events", 3, "type"]
    assert "recorded by the store itself" in out["results"][3]["reason"]
    assert out["results"][4]["field"] == ["body", "events", 4, "email"]
    assert out["results"][6]["field"] == ["body", "events", 6, "unknown_field"]
    assert out["results"][5]["event_id"] == out["results"][0]["event_id"]
    assert [row["data"]["sku"] for row in _stored(database)] == ["S0", "S2"]


async def test_a_batch_retried_with_its_key_is_replayed_and_its_limits_hold(
    client: httpx.AsyncClient, database: Database
) -> None:
    items = [_event(n) for n in range(1000)]
    headers = {**AUTH, "Idempotency-Key": "batch-1"}
    first = await client.post(BATCH, json={"events": items}, headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] == 1000
    again = await client.post(BATCH, json={"events": items}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    other = await client.post(BATCH, json={"events": items[:3]}, headers=headers)
    assert other.status_code == 409
    assert len(_stored(database)) == 1000
    too_many = await client.post(BATCH, json={"events": [*items, _event(1)]}, headers=AUTH)
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "events"]
    empty = await client.post(BATCH, json={"events": []}, headers=AUTH)
    assert empty.status_code == 422
    with database.session() as session:
        assert session.execute(select(func.count()).select_from(event_table)).scalar() == 1000


async def test_each_answered_event_id_is_the_row_of_that_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Ids are matched to events in order (on SQLite, from the ids past the largest before):
    each id answered holds that item's own data, also when other rows came before."""
    await client.post("/v1/events", json=_event(0), headers={**AUTH, "Idempotency-Key": "a"})
    items = [_event(n, data={"n": n}) for n in range(1, 301)]
    items[7] = _event(8, id="own-id-8", data={"n": 8})
    answer = await client.post(BATCH, json={"events": items}, headers=AUTH)
    results = answer.json()["results"]
    by_id = {row["id"]: row["data"] for row in _stored(database)}
    assert [by_id[item["event_id"]] for item in results] == [{"n": n} for n in range(1, 301)]
    assert len(by_id) == 301


async def test_a_group_is_answered_with_one_call_into_the_event_loop(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer wakes the requests' event loop once per group, not once per request."""
    loop = asyncio.get_running_loop()
    groups: list[int] = []
    answer_calls: list[int] = []
    real_write = intake_module.Intake._write
    real_call = loop.call_soon_threadsafe

    def counting(self: intake_module.Intake, pieces: list[Any]) -> None:
        groups.append(len(pieces))
        real_write(self, pieces)

    def call_soon_threadsafe(callback: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(callback, "__qualname__", "").startswith("_settle_all"):
            answer_calls.append(len(args[0]))
        return real_call(callback, *args, **kwargs)

    monkeypatch.setattr(intake_module.Intake, "_write", counting)
    monkeypatch.setattr(loop, "call_soon_threadsafe", call_soon_threadsafe)

    async def post(number: int) -> httpx.Response:
        headers = {**AUTH, "Idempotency-Key": f"g{number}"}
        return await client.post("/v1/events", json=_event(number), headers=headers)

    answers = await asyncio.gather(*(post(n) for n in range(60)))
    assert {answer.status_code for answer in answers} == {202}
    assert max(groups) > 1
    assert answer_calls == groups  # one call per group, carrying all of its answers
    assert len(_stored(database)) == 60


async def test_a_write_alone_in_its_group_takes_no_savepoint_and_fails_alone(
    database: Database, clock: FrozenClock
) -> None:
    """A write (a batch, a customer) alone in its group runs in the group's transaction
    without a savepoint; when it fails, its request gets the error and nothing it wrote is
    committed; the next group goes on."""
    from mailengine.store.customers import count_customers, ensure_customers

    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    intake = intake_module.Intake(database, clock)

    def failing(session: Any) -> None:
        ensure_customers(session, ["gone@example.com"], NOW)
        raise ValueError("refused after writing")

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with pytest.raises(ValueError, match="refused after writing"):
            await intake.run(failing)
        kept = await intake.run(lambda session: ensure_customers(session, ["kept@x.com"], NOW))
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert list(kept) == ["kept@x.com"]
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    with database.session() as session:
        assert count_customers(session) == 1
