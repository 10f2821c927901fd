"""Storing many API events at once: a few statements for a whole group, not a few per event.

The API's single events (gathered from concurrent requests, `web.intake`) and its batches
(`POST /v1/events:batch`) come here. For the group: the stored answers of Idempotency-Keys
seen before (a replay, or a 409 for a key used with another request), the customers of the
addresses (bare ones created for unknown addresses), the events already stored under their
keys (an event `id` sent twice is one event), then one multi-row INSERT of the new events and
one of the answers to replay. Within one group the first use of a key wins, as if the
requests had come one after the other.

Another process may store the same key between the lookups and the inserts: the inserts then
fail on a unique index inside a savepoint, and the group is stored one event at a time
(`_one_by_one`), where each key is claimed before it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.api_queries import (
    api_request_table,
    reserve_idempotency_key,
    save_answer,
)
from mailengine.store.customers import ensure_customers
from mailengine.store.events import event_ids_by_key, insert_events, record_event

ACCEPTED = 202
CONFLICT = 409
KEY_REUSED = "this Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class IncomingEvent:
    """One event as the API took it. `request_key` is the Idempotency-Key of its request (a
    single event), `request_hash` what a retry must repeat; `event_key` stores it once."""

    client: str
    request_key: str | None
    request_hash: str
    email: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    event_key: str | None


@dataclass(frozen=True)
class EventAnswer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def store_events(
    session: Session, events: Sequence[IncomingEvent], endpoint: str, now: datetime
) -> list[EventAnswer]:
    """Store the events (in the caller's transaction); the answer for each, in order."""
    answers: list[EventAnswer | None] = [None] * len(events)
    stored = _stored_answers(session, events)
    first_of_key: dict[tuple[str, str], int] = {}
    fresh: list[int] = []
    for index, event in enumerate(events):
        if event.request_key is None:
            fresh.append(index)
            continue
        pair = (event.client, event.request_key)
        if pair in stored:
            answers[index] = _replay(stored[pair], endpoint, event.request_hash)
        elif pair not in first_of_key:
            first_of_key[pair] = index
            fresh.append(index)
    try:
        with session.begin_nested():
            _store_fresh(session, events, fresh, answers, endpoint, now)
    except IntegrityError:  # another process stored one of these keys meanwhile
        for index in fresh:
            answers[index] = None
        _one_by_one(session, events, fresh, answers, endpoint, now)
    for index, event in enumerate(events):
        if answers[index] is None:  # a key used again in the same group
            assert event.request_key is not None
            first = events[first_of_key[(event.client, event.request_key)]]
            earlier = answers[first_of_key[(event.client, event.request_key)]]
            assert earlier is not None
            same = first.request_hash == event.request_hash
            answers[index] = (
                EventAnswer(earlier.status_code, earlier.body, replayed=True)
                if same
                else EventAnswer(CONFLICT, {"detail": KEY_REUSED})
            )
    return [answer for answer in answers if answer is not None]


def _stored_answers(
    session: Session, events: Sequence[IncomingEvent]
) -> dict[tuple[str, str], tuple[str, str, int, dict[str, Any]]]:
    pairs = list({(e.client, e.request_key) for e in events if e.request_key is not None})
    if not pairs:
        return {}
    a = api_request_table.c
    rows = session.execute(
        select(a.client, a.idempotency_key, a.endpoint, a.request_hash, a.status_code, a.response)
        .where(tuple_(a.client, a.idempotency_key).in_(pairs))
    )  # fmt: skip
    return {
        (str(client), str(key)): (str(endpoint), str(hashed), int(status), dict(response))
        for client, key, endpoint, hashed, status, response in rows
    }


def _replay(
    stored: tuple[str, str, int, dict[str, Any]], endpoint: str, request_hash: str
) -> EventAnswer:
    stored_endpoint, stored_hash, status, response = stored
    if stored_endpoint != endpoint or stored_hash != request_hash:
        return EventAnswer(CONFLICT, {"detail": KEY_REUSED})
    return EventAnswer(status, response, replayed=True)


def _store_fresh(
    session: Session,
    events: Sequence[IncomingEvent],
    fresh: list[int],
    answers: list[EventAnswer | None],
    endpoint: str,
    now: datetime,
) -> None:
    if not fresh:
        return
    customers = ensure_customers(session, [events[i].email for i in fresh], now)
    keys = [key for i in fresh if (key := events[i].event_key) is not None]
    known = event_ids_by_key(session, keys)
    inserting: list[int] = []
    for index in fresh:
        key = events[index].event_key
        if key is not None and key in known:
            continue
        if key is not None:
            known[key] = -1  # the first of this key in the group is stored
        inserting.append(index)
    if inserting:
        rows = [
            {
                "customer_id": customers[events[i].email], "type": events[i].type,
                "data": events[i].data, "occurred_at": events[i].occurred_at,
                "received_at": now, "idempotency_key": events[i].event_key,
            }
            for i in inserting
        ]  # fmt: skip
        ids = insert_events(session, rows)
        new_ids = dict(zip(inserting, ids, strict=True))
        for index, event_id in new_ids.items():
            key = events[index].event_key
            if key is not None:
                known[key] = event_id
    else:
        new_ids = {}
    answered = []
    for index in fresh:
        event = events[index]
        duplicate = index not in new_ids
        if duplicate:
            assert event.event_key is not None
            event_id = known[event.event_key]
        else:
            event_id = new_ids[index]
        body = {"event_id": event_id, "customer_id": customers[event.email], "duplicate": duplicate}
        answers[index] = EventAnswer(ACCEPTED, body)
        if event.request_key is not None:
            answered.append(
                {
                    "client": event.client, "idempotency_key": event.request_key,
                    "endpoint": endpoint, "request_hash": event.request_hash,
                    "status_code": ACCEPTED, "response": body,
                    "customer_id": customers[event.email], "created_at": now,
                }
            )  # fmt: skip
    if answered:
        session.execute(insert(api_request_table), answered)


def _one_by_one(
    session: Session,
    events: Sequence[IncomingEvent],
    fresh: list[int],
    answers: list[EventAnswer | None],
    endpoint: str,
    now: datetime,
) -> None:
    """The slow path: each event claims its key first, as a single request does."""
    for index in fresh:
        event = events[index]
        if event.request_key is not None:
            stored = reserve_idempotency_key(
                session, event.client, event.request_key, endpoint, event.request_hash, now
            )
            if stored is not None:
                answers[index] = _replay(
                    (stored.endpoint, stored.request_hash, stored.status_code, stored.response),
                    endpoint,
                    event.request_hash,
                )
                continue
        customer_id = ensure_customers(session, [event.email], now)[event.email]
        event_id, new = record_event(
            session, customer_id, event.type, event.data, event.occurred_at, now, event.event_key
        )
        body = {"event_id": event_id, "customer_id": customer_id, "duplicate": not new}
        answers[index] = EventAnswer(ACCEPTED, body)
        if event.request_key is not None:
            save_answer(session, event.client, event.request_key, ACCEPTED, body, customer_id)
