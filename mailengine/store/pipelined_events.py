"""The API's events on PostgreSQL in two round trips to the server and the commit.

A round trip to the server costs far more than these statements (`store.pipelined`), and a
group of events took eight (BEGIN, the answers' lookup, the customers' lookup, a
savepoint, the events, the answers, the savepoint's release, COMMIT): most of a single
event's 30 ms at 500 requests/s while the server's processor was mostly idle.

So with psycopg's pipeline mode:
1. BEGIN, the answers stored under the group's Idempotency-Keys and the customers of its
   addresses, sent together (`store.pipelined.look_up`);
2. a savepoint, one statement that stores the events (each once under its key, as
   `events.store_events_once`), queues them for the engine and stores the answers of their
   requests, and the savepoint's release, sent together;
then the intake's COMMIT. What the answers are is decided between the two as for any group
(`keyed_requests.sort_requests`). When another process claims one of the keys between the
two, the statement fails on the unique index, the savepoint is rolled back to and each
request is answered alone (`keyed_requests.answer_one_by_one`), as before.

May import: store.pipelined, store.keyed_requests, store.customers, store.events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg import Connection, IntegrityError
from sqlmodel import Session

from mailengine.json_text import json_text
from mailengine.store.customers import ensure_customers
from mailengine.store.events import event_ids_by_key, moments_as_text
from mailengine.store.keyed_requests import (
    KeyedRequest,
    RequestAnswer,
    Sorted,
    Written,
    answer_one_by_one,
    answers_in_order,
    sort_requests,
)
from mailengine.store.pipelined import SAVEPOINT, driver, look_up
from mailengine.store.request_answers import NewAnswer, insert_answers

ACCEPTED = 202


class PipelinedEvent(KeyedRequest, Protocol):
    """What is stored of an event of the API (`event_intake.IncomingEvent`)."""

    @property
    def email(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def event_key(self) -> str | None: ...


def store_events_pipelined(
    session: Session,
    events: Sequence[PipelinedEvent],
    endpoint: str,
    now: datetime,
    write_one: Callable[[int], Written],
) -> list[RequestAnswer]:
    """`event_intake.store_events` on PostgreSQL (in the caller's transaction): the answer
    for each event, in order. `write_one` stores one event alone (the fallback)."""
    raw = driver(session)
    found = look_up(raw, events, [event.email for event in events])
    customers = found.customers
    done = sort_requests(events, found.answers, endpoint)
    if done.fresh:
        missing = [events[i].email for i in done.fresh if events[i].email not in customers]
        if missing:  # bare customers for unknown addresses, as `ensure_customers` makes them
            customers.update(ensure_customers(session, missing, now))
        try:
            _write_fresh(session, raw, events, done, customers, endpoint, now)
        except IntegrityError:  # another process claimed one of these keys meanwhile
            raw.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            answer_one_by_one(session, events, done.fresh, done.answers, endpoint, now, write_one)
    return answers_in_order(events, done)


def _write_fresh(
    session: Session,
    raw: Connection[Any],
    events: Sequence[PipelinedEvent],
    done: Sorted,
    customers: dict[str, int],
    endpoint: str,
    now: datetime,
) -> None:
    """Store the fresh events and their answers (`_STORE`) in a savepoint: one round trip.
    An event whose key came earlier in the group, or that another transaction stored
    meanwhile, has its answer stored here afterwards."""
    moment = moments_as_text()
    first: dict[str, int] = {}  # an event key repeated in the group: the first is stored
    document = []
    for index in done.fresh:
        event = events[index]
        key = event.event_key
        if key is None or first.setdefault(key, index) == index:
            document.append(
                {"n": index, "customer_id": customers[event.email], "type": event.type,
                 "data": event.data, "occurred_at": moment(event.occurred_at),
                 "idempotency_key": key, "client": event.client,
                 "request_key": event.request_key, "request_hash": event.request_hash}
            )  # fmt: skip
    parameters = {"rows": json_text(document), "endpoint": endpoint, "now": moment(now)}
    with raw.pipeline():
        raw.execute(f"SAVEPOINT {SAVEPOINT}")
        result = raw.cursor()
        result.execute(_STORE, parameters)
        raw.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
    outcome: dict[int, tuple[int, bool, bool]] = {}  # n -> (event id, new, answer stored)
    raced: list[int] = []  # skipped for a key another transaction stored meanwhile
    for index, new_id, earlier_id in result.fetchall():
        if new_id is not None:
            outcome[index] = (int(new_id), True, True)
        elif earlier_id is not None:
            outcome[index] = (int(earlier_id), False, True)
        else:
            raced.append(index)
    if raced:
        keys = [events[i].event_key for i in raced]
        ids = event_ids_by_key(session, [key for key in keys if key is not None])
        outcome.update({i: (ids[str(events[i].event_key)], False, False) for i in raced})
    later: list[NewAnswer] = []
    for index in done.fresh:
        event = events[index]
        key = event.event_key
        if index in outcome:
            event_id, new, answered = outcome[index]
        else:  # its event key came earlier in the group
            event_id, new, answered = outcome[first[str(key)]][0], False, False
        customer_id = customers[event.email]
        body = {"event_id": event_id, "customer_id": customer_id, "duplicate": not new}
        done.answers[index] = RequestAnswer(ACCEPTED, body)
        if not answered and event.request_key is not None:
            later.append(
                NewAnswer(event.client, event.request_key, event.request_hash, ACCEPTED, body,
                          customer_id)
            )  # fmt: skip
    insert_answers(session, later, endpoint, now)


# `events._STORE_ONCE` with the answers of the requests stored in the same statement: the
# answer of an event whose id was drawn here, or whose key was stored before this statement
# began, is known inside it; one skipped for a key stored meanwhile is not (stored after).
# A key stored meanwhile by another transaction fails the answers' INSERT on the unique index.
_STORE = """
WITH item AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('event', 'id')) AS id, r.n, r.customer_id, r.type,
           r.data, r.occurred_at, r.idempotency_key, r.client, r.request_key, r.request_hash
    FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(n integer, customer_id integer,
         type text, data jsonb, occurred_at timestamptz, idempotency_key text, client text,
         request_key text, request_hash text)
    ORDER BY r.n
), stored AS (
    INSERT INTO event (id, customer_id, type, data, occurred_at, received_at, idempotency_key)
    SELECT id, customer_id, type, data, occurred_at, CAST(%(now)s AS timestamptz),
           idempotency_key
    FROM item ORDER BY n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), queued AS (
    INSERT INTO event_pending (event_id) SELECT id FROM stored
), outcome AS MATERIALIZED (
    SELECT item.n, item.customer_id, item.client, item.request_key, item.request_hash,
           stored.id AS new_id,
           CASE WHEN stored.id IS NULL THEN
               (SELECT earlier.id FROM event AS earlier
                WHERE earlier.idempotency_key = item.idempotency_key)
           END AS earlier_id
    FROM item LEFT JOIN stored ON stored.id = item.id
), answered AS (
    INSERT INTO api_request (
        client, idempotency_key, endpoint, request_hash, status_code, response, customer_id,
        created_at
    )
    SELECT client, request_key, CAST(%(endpoint)s AS text), request_hash, 202,
           jsonb_build_object('event_id', coalesce(new_id, earlier_id),
                              'customer_id', customer_id, 'duplicate', new_id IS NULL),
           customer_id, CAST(%(now)s AS timestamptz)
    FROM outcome
    WHERE request_key IS NOT NULL AND coalesce(new_id, earlier_id) IS NOT NULL
)
SELECT n, new_id, earlier_id FROM outcome ORDER BY n
"""
