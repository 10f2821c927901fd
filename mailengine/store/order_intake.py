"""Many orders written at once, as the API's batches and concurrent requests bring them:
upserted together, the figures of every customer touched refreshed once, and one
`order.placed` event per new order inserted in one statement. What `api_queries.write_order`
does for one order, for a thousand. On PostgreSQL in four round trips (`store.pipelined`).

May import: store.orders, store.events, store.api_queries, store.keyed_requests, store.records,
store.pipelined, store.request_answers, store.customers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import IntegrityError as DriverIntegrityError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.api_queries import OrderWritten, write_order
from mailengine.store.customers import ensure_customers
from mailengine.store.events import store_events_once
from mailengine.store.keyed_requests import (
    RequestAnswer,
    Written,
    answer_one_by_one,
    answer_requests,
    answers_in_order,
    sort_requests,
)
from mailengine.store.orders import orders_by_external_id, placed_order_data, upsert_orders
from mailengine.store.pipelined import SAVEPOINT, driver, look_up
from mailengine.store.records import OrderUpsert
from mailengine.store.request_answers import NewAnswer, insert_answers


def write_orders(
    session: Session,
    records: Sequence[OrderUpsert],
    now: datetime,
    *,
    known: dict[str, tuple[int, int]] | None = None,
    customer_ids: dict[str, int] | None = None,
    together: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> list[OrderWritten]:
    """Upsert the orders (in the caller's transaction); what became of each, in order. The
    first record of an external id not stored before is new (and emits `order.placed`);
    any other is an update. `known` (`orders_by_external_id`) and `customer_ids` (of every
    address) when the caller looked them up; the writes that answer nothing run inside
    `together()` (a pipeline on PostgreSQL: one round trip)."""
    if known is None:
        external_ids = list(dict.fromkeys(record.external_id for record in records))
        known = orders_by_external_id(session, external_ids)
    with together():
        outcome = upsert_orders(session, records, now, existing=known, customer_ids=customer_ids)
    placed: dict[str, OrderUpsert] = {}
    for record in records:
        if record.external_id not in known and record.external_id not in placed:
            placed[record.external_id] = record
    event_ids = _placed_events(session, placed, outcome.customer_ids, now)
    written: list[OrderWritten] = []
    first: set[str] = set()
    for record in records:
        created = record.external_id in placed and record.external_id not in first
        first.add(record.external_id)
        customer_id = outcome.customer_ids[record.email]
        event_id = event_ids[record.external_id] if created else None
        written.append(OrderWritten(customer_id, created, event_id))
    return written


def _placed_events(
    session: Session, placed: dict[str, OrderUpsert], customers: dict[str, int], now: datetime
) -> dict[str, int]:
    """The `order.placed` event of each new order (external id -> event id), stored under the
    key `write_order` uses, so that no order is announced twice."""
    rows = [
        {
            "customer_id": customers[record.email],
            "type": "order.placed",
            "data": placed_order_data(record),
            "occurred_at": record.placed_at,
            "received_at": now,
            "idempotency_key": f"order.placed:{external_id}",
        }
        for external_id, record in placed.items()
    ]
    stored = store_events_once(session, rows)
    return {
        external_id: event_id for external_id, (event_id, _) in zip(placed, stored, strict=True)
    }


@dataclass(frozen=True)
class IncomingOrder:
    """One `POST /v1/orders` as the API took it: who sent it, its Idempotency-Key, the hash a
    retry must repeat, and the order."""

    client: str
    request_key: str | None
    request_hash: str
    record: OrderUpsert


def store_orders(
    session: Session, orders: Sequence[IncomingOrder], endpoint: str, now: datetime
) -> list[RequestAnswer]:
    """Write the orders of concurrent requests together (in the caller's transaction); the
    answer to each, in order, as `POST /v1/orders` gives it."""

    def many(indexes: list[int]) -> list[Written]:
        records = [orders[i].record for i in indexes]
        return [
            _answer(record, written)
            for record, written in zip(records, write_orders(session, records, now), strict=True)
        ]

    def one(index: int) -> Written:
        record = orders[index].record
        return _answer(record, write_order(session, record, now))

    if session.get_bind().dialect.name == "postgresql":
        return _store_pipelined(session, orders, endpoint, now, one)
    return answer_requests(session, orders, endpoint, now, many, one)


def _store_pipelined(
    session: Session,
    orders: Sequence[IncomingOrder],
    endpoint: str,
    now: datetime,
    one: Callable[[int], Written],
) -> list[RequestAnswer]:
    """`store_orders` on PostgreSQL in four round trips and the commit, where there were
    eleven (`store.pipelined`): the lookups (answers, customers, orders) with BEGIN and a
    savepoint; the orders and the customers' figures; the `order.placed` events; the answers
    with the savepoint's release. A key or an order another process stored meanwhile rolls
    back to the savepoint, and each request is answered alone."""
    raw = driver(session)
    external_ids = list(dict.fromkeys(order.record.external_id for order in orders))
    found = look_up(
        raw, orders, [order.record.email for order in orders],
        (_ORDERS_BY_EXTERNAL_ID, {"ids": json.dumps(external_ids)}), savepoint=True,
    )  # fmt: skip
    done = sort_requests(orders, found.answers, endpoint)
    if not done.fresh:
        return answers_in_order(orders, done)  # the savepoint ends with the transaction
    records = [orders[index].record for index in done.fresh]
    customers = found.customers
    try:
        missing = [record.email for record in records if record.email not in customers]
        if missing:
            customers.update(ensure_customers(session, missing, now))
        known = {str(external_id): (int(oid), int(cid)) for external_id, oid, cid in found.extra}
        written = write_orders(
            session, records, now, known=known, customer_ids=customers, together=raw.pipeline
        )
        keyed = []
        for index, record, outcome in zip(done.fresh, records, written, strict=True):
            answer = _answer(record, outcome)
            done.answers[index] = RequestAnswer(answer.status_code, answer.body)
            order = orders[index]
            if order.request_key is not None:
                keyed.append(
                    NewAnswer(order.client, order.request_key, order.request_hash,
                              answer.status_code, answer.body, answer.customer_id)
                )  # fmt: skip
        with raw.pipeline():
            insert_answers(session, keyed, endpoint, now)
            raw.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
    except (IntegrityError, DriverIntegrityError):  # stored by another process meanwhile
        raw.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        answer_one_by_one(session, orders, done.fresh, done.answers, endpoint, now, one)
    return answers_in_order(orders, done)


_ORDERS_BY_EXTERNAL_ID = """
    SELECT external_id, id, customer_id FROM orders
    WHERE external_id = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))))
"""


def _answer(record: OrderUpsert, written: OrderWritten) -> Written:
    body = {
        "customer_id": written.customer_id,
        "external_id": record.external_id,
        "created": written.created,
        "event_id": written.event_id,
    }
    return Written(201 if written.created else 200, body, written.customer_id)
