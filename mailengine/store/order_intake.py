"""Many orders written at once, as the API's batches and concurrent requests bring them:
upserted together, the figures of every customer touched refreshed once, and one
`order.placed` event per new order inserted in one statement. What `api_queries.write_order`
does for one order, for a thousand.

May import: store.orders, store.events, store.api_queries, store.keyed_requests, store.records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailengine.store.api_queries import OrderWritten, write_order
from mailengine.store.events import event_ids_by_key, insert_events
from mailengine.store.keyed_requests import RequestAnswer, Written, answer_requests
from mailengine.store.orders import orders_by_external_id, placed_order_data, upsert_orders
from mailengine.store.records import OrderUpsert


def write_orders(
    session: Session, records: Sequence[OrderUpsert], now: datetime
) -> list[OrderWritten]:
    """Upsert the orders (in the caller's transaction); what became of each, in order. The
    first record of an external id not stored before is new (and emits `order.placed`);
    any other is an update."""
    external_ids = list(dict.fromkeys(record.external_id for record in records))
    known = orders_by_external_id(session, external_ids)
    outcome = upsert_orders(session, records, now, existing=known)
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
    keys = {external_id: f"order.placed:{external_id}" for external_id in placed}
    stored = event_ids_by_key(session, list(keys.values()))
    missing = [external_id for external_id in placed if keys[external_id] not in stored]
    rows = [
        {
            "customer_id": customers[placed[external_id].email],
            "type": "order.placed",
            "data": placed_order_data(placed[external_id]),
            "occurred_at": placed[external_id].placed_at,
            "received_at": now,
            "idempotency_key": keys[external_id],
        }
        for external_id in missing
    ]
    ids = dict(zip(missing, insert_events(session, rows), strict=True))
    return {
        external_id: stored.get(keys[external_id]) or ids[external_id] for external_id in placed
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

    return answer_requests(session, orders, endpoint, now, many, one)


def _answer(record: OrderUpsert, written: OrderWritten) -> Written:
    body = {
        "customer_id": written.customer_id,
        "external_id": record.external_id,
        "created": written.created,
        "event_id": written.event_id,
    }
    return Written(201 if written.created else 200, body, written.customer_id)
