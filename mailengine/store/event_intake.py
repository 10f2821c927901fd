"""Storing many API events at once: a few statements for a whole group, not a few per event.

The API's single events (gathered from concurrent requests, `web.intake`) and its batches
(`POST /v1/events:batch`) come here. Idempotency-Keys are handled for the group by
`store.keyed_requests`; for the events to write: the customers of the addresses (bare ones
created for unknown addresses), the events already stored under their keys (an event `id`
sent twice is one event), then one INSERT of the new events. When another process stores one
of the keys meanwhile, each event is stored alone (`record_event`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlmodel import Session

from mailengine.store.customers import ensure_customers
from mailengine.store.events import event_ids_by_key, insert_events, record_event
from mailengine.store.keyed_requests import RequestAnswer, Written, answer_requests

ACCEPTED = 202


class IncomingEvent(NamedTuple):
    """One event as the API took it. `request_key` is the Idempotency-Key of its request (a
    single event), `request_hash` what a retry must repeat; `event_key` stores it once. (A
    named tuple: a batch makes a thousand, and a frozen dataclass is several times slower to
    build.)"""

    client: str
    request_key: str | None
    request_hash: str
    email: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    event_key: str | None


def store_events(
    session: Session, events: Sequence[IncomingEvent], endpoint: str, now: datetime
) -> list[RequestAnswer]:
    """Store the events (in the caller's transaction); the answer for each, in order."""

    def many(indexes: list[int]) -> list[Written]:
        return _store_many(session, [events[i] for i in indexes], now)

    def one(index: int) -> Written:
        event = events[index]
        customer_id = ensure_customers(session, [event.email], now)[event.email]
        event_id, new = record_event(
            session, customer_id, event.type, event.data, event.occurred_at, now, event.event_key
        )
        body = {"event_id": event_id, "customer_id": customer_id, "duplicate": not new}
        return Written(ACCEPTED, body, customer_id)

    return answer_requests(session, events, endpoint, now, many, one)


def _store_many(session: Session, events: list[IncomingEvent], now: datetime) -> list[Written]:
    customers = ensure_customers(session, [event.email for event in events], now)
    known = event_ids_by_key(session, [key for e in events if (key := e.event_key) is not None])
    inserting: list[int] = []
    for index, event in enumerate(events):
        if event.event_key is not None:
            if event.event_key in known:
                continue
            known[event.event_key] = -1  # the first of this key in the group is stored
        inserting.append(index)
    rows = [
        {
            "customer_id": customers[events[i].email], "type": events[i].type,
            "data": events[i].data, "occurred_at": events[i].occurred_at,
            "received_at": now, "idempotency_key": events[i].event_key,
        }
        for i in inserting
    ]  # fmt: skip
    new_ids = dict(zip(inserting, insert_events(session, rows), strict=True))
    for index, event_id in new_ids.items():
        key = events[index].event_key
        if key is not None:
            known[key] = event_id
    written = []
    for index, event in enumerate(events):
        duplicate = index not in new_ids
        event_id = known[event.event_key] if event.event_key and duplicate else new_ids[index]
        customer_id = customers[event.email]
        body = {"event_id": event_id, "customer_id": customer_id, "duplicate": duplicate}
        written.append(Written(ACCEPTED, body, customer_id))
    return written
