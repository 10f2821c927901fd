"""The answers stored under Idempotency-Keys, found and stored a group of requests at a time.

The intake (`web.intake`, through `store.keyed_requests`) asks once per group which keys were
answered before and stores the new answers at once. Both go to the driver as it takes them:

- the lookup is `client = ? AND idempotency_key IN (...)` per client, which the unique index
  on (client, idempotency_key) serves on both databases (on SQLite in the driver's SQL,
  `store.sqlite_lookups`). A row-value `(client, key) IN
  (VALUES ...)` is not served by an index on SQLite: it read the whole table, every answer kept
  for a day, once per group;
- the insert is a DBAPI executemany on SQLite and one statement over arrays on PostgreSQL
  (as `outbox.plan_sends`), with the answer as JSON text and the time as `UTCDateTime` writes
  it: SQLAlchemy's processing of each value of each row was most of its cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from json import loads
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlmodel import Session

from mailengine.json_text import json_text
from mailengine.store.api_queries import StoredAnswer, api_request_table
from mailengine.store.sql_values import one_of
from mailengine.store.sqlite_lookups import rows_of_keys, sqlite_driver
from mailengine.store.types import UTCDateTime

_UTC = UTCDateTime()
_LOOKUP_CHUNK = 1000


class NewAnswer(NamedTuple):
    """An answer to store under (client, idempotency_key)."""

    client: str
    idempotency_key: str
    request_hash: str
    status_code: int
    response: dict[str, Any]
    customer_id: int | None


def stored_answers(
    session: Session, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredAnswer]:
    """The answers stored under these (client, Idempotency-Key) pairs, by pair."""
    by_client: dict[str, dict[str, None]] = {}
    for client, key in pairs:
        by_client.setdefault(client, {})[key] = None
    driver = sqlite_driver(session) if by_client else None
    if driver is not None:
        return {
            (client, str(key)): StoredAnswer(str(endpoint), str(hashed), int(status), loads(text))
            for client, keyed in by_client.items()
            for key, endpoint, hashed, status, text in rows_of_keys(
                driver, _ANSWERS_SQLITE, list(keyed), client
            )
        }
    dialect = session.get_bind().dialect.name
    a = api_request_table.c
    found: dict[tuple[str, str], StoredAnswer] = {}
    for client, keyed in by_client.items():
        keys = list(keyed)
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            rows = session.execute(
                select(a.idempotency_key, a.endpoint, a.request_hash, a.status_code, a.response)
                .where(a.client == client)
                .where(one_of(a.idempotency_key, keys[start : start + _LOOKUP_CHUNK], dialect))
            )  # fmt: skip
            for key, endpoint, hashed, status, response in rows:
                found[(client, str(key))] = StoredAnswer(
                    str(endpoint), str(hashed), int(status), dict(response)
                )
    return found


def insert_answers(
    session: Session, answers: Sequence[NewAnswer], endpoint: str, now: datetime
) -> None:
    """Store the answers (in the caller's transaction). A key stored before fails the
    statement on the unique index (an IntegrityError), as the ORM's insert did."""
    if not answers:
        return
    connection = session.connection()
    dialect = connection.dialect
    stamp = _UTC.process_bind_param(now, dialect)
    if dialect.name != "postgresql":
        connection.exec_driver_sql(
            _INSERT_SQLITE,
            [
                (answer.client, answer.idempotency_key, endpoint, answer.request_hash,
                 answer.status_code, json_text(answer.response), answer.customer_id, stamp)
                for answer in answers
            ],
        )  # fmt: skip
        return
    parameters: dict[str, Any] = {
        "client": [answer.client for answer in answers],
        "idempotency_key": [answer.idempotency_key for answer in answers],
        "request_hash": [answer.request_hash for answer in answers],
        "status_code": [answer.status_code for answer in answers],
        "response": [json_text(answer.response) for answer in answers],
        "customer_id": [answer.customer_id for answer in answers],
        "endpoint": endpoint,
        "now": stamp,
    }
    connection.exec_driver_sql(_INSERT_POSTGRESQL, parameters)


_ANSWERS_SQLITE = """
    SELECT idempotency_key, endpoint, request_hash, status_code, response FROM api_request
    WHERE client = ? AND idempotency_key IN (SELECT value FROM json_each(?))
"""
_INSERT_SQLITE = """
    INSERT INTO api_request (
        client, idempotency_key, endpoint, request_hash, status_code, response, customer_id,
        created_at
    )
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
# One array per column, sent in binary (`%(name)b`, psycopg's placeholder), so the statement's
# text never changes with the number of rows (see `outbox.plan_sends`).
_INSERT_POSTGRESQL = """
    INSERT INTO api_request (
        client, idempotency_key, endpoint, request_hash, status_code, response, customer_id,
        created_at
    )
    SELECT client, idempotency_key, CAST(%(endpoint)b AS text), request_hash, status_code, response,
           customer_id, %(now)b
    FROM unnest(
        CAST(%(client)b AS text[]), CAST(%(idempotency_key)b AS text[]),
        CAST(%(request_hash)b AS text[]), CAST(%(status_code)b AS integer[]),
        CAST(%(response)b AS jsonb[]), CAST(%(customer_id)b AS integer[])
    ) AS answered (client, idempotency_key, request_hash, status_code, response, customer_id)
"""
