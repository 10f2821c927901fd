"""Storing many API events at once: a few statements for a whole group, not a few per event.

The API's single events (gathered from concurrent requests, `web.intake`) and its batches
(`POST /v1/events:batch`) come here. Idempotency-Keys are handled for the group by
`store.keyed_requests`; for the events to write: the customers of the addresses (bare ones
created for unknown addresses), the events already stored under their keys (an event `id`
sent twice is one event), then one INSERT of the new events. When another process stores one
of the keys meanwhile, each event is stored alone (`record_event`). On PostgreSQL the same in
two round trips to the server (`store.pipelined_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlmodel import Session

from mailengine.store.customers import ensure_customers
from mailengine.store.events import record_event, store_events_once
from mailengine.store.keyed_requests import RequestAnswer, Written, answer_requests
from mailengine.store.pipelined_events import store_events_pipelined

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

    if session.get_bind().dialect.name == "postgresql":
        return store_events_pipelined(session, events, endpoint, now, one)
    return answer_requests(session, events, endpoint, now, many, one)


def _store_many(session: Session, events: list[IncomingEvent], now: datetime) -> list[Written]:
    customers = ensure_customers(session, [event.email for event in events], now)
    rows = [
        {
            "customer_id": customers[event.email], "type": event.type, "data": event.data,
            "occurred_at": event.occurred_at, "received_at": now,
            "idempotency_key": event.event_key,
        }
        for event in events
    ]  # fmt: skip
    written = []
    for event, (event_id, new) in zip(events, store_events_once(session, rows), strict=True):
        customer_id = customers[event.email]
        body = {"event_id": event_id, "customer_id": customer_id, "duplicate": not new}
        written.append(Written(ACCEPTED, body, customer_id))
    return written
