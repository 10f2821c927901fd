"""What a group of the API's requests reads first on PostgreSQL, in one round trip.

Each round trip between the intake's writer thread and the server costs far more than the
statement: the writer gives up the interpreter lock and the processor, the server's backend
is woken, then the writer waits for both again (1-10 ms each on a busy machine, while the
statements took well under one). So the reads a group needs before it writes (the answers
stored under its Idempotency-Keys, the customers of its addresses, and what else its kind
needs) go out together with the transaction's BEGIN and a savepoint, in psycopg's pipeline
mode; `store.pipelined_events` and `store.order_intake` write after them.

May import: store.api_queries, store.keyed_requests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg import Connection
from sqlmodel import Session

from mailengine.store.api_queries import StoredAnswer
from mailengine.store.keyed_requests import KeyedRequest

SAVEPOINT = "mailengine_intake"


class Found(NamedTuple):
    """What a group's lookups found: answers by (client, key), customer ids by address, and
    the rows of the extra query, if any."""

    answers: dict[tuple[str, str], StoredAnswer]
    customers: dict[str, int]
    extra: list[tuple[Any, ...]]


def driver(session: Session) -> Connection[Any]:
    """The psycopg connection under the session's (its transaction is the session's)."""
    found = session.connection().connection.driver_connection
    assert isinstance(found, Connection)
    return found


def look_up(
    raw: Connection[Any],
    requests: Sequence[KeyedRequest],
    emails: Sequence[str],
    extra: tuple[str, dict[str, Any]] | None = None,
    *,
    savepoint: bool = False,
) -> Found:
    """The stored answers of the requests' keys, the ids of the customers of `emails`, and
    the rows of `extra` (a query and its parameters): one round trip, with BEGIN and, with
    `savepoint`, a savepoint (`SAVEPOINT`) for the writes that follow."""
    pairs = {(r.client, r.request_key): None for r in requests if r.request_key is not None}
    with raw.pipeline():
        if savepoint:
            raw.execute(f"SAVEPOINT {SAVEPOINT}")
        answered = raw.cursor()
        if pairs:
            keys = [{"client": client, "key": key} for client, key in pairs]
            answered.execute(_ANSWERS, {"keys": json.dumps(keys)})
        known = raw.cursor()
        known.execute(_CUSTOMERS, {"emails": json.dumps(list(dict.fromkeys(emails)))})
        more = raw.cursor()
        if extra is not None:
            more.execute(*extra)
    rows = answered.fetchall() if pairs else []
    stored = {
        (str(client), str(key)): StoredAnswer(str(endpoint), str(hashed), int(status), response)
        for client, key, endpoint, hashed, status, response in rows
    }
    customers = {str(email): int(customer_id) for email, customer_id in known.fetchall()}
    return Found(stored, customers, more.fetchall() if extra is not None else [])


# Each key looked up by the unique index (LATERAL, its LIMIT keeping the planner from turning
# it back into a join): as a join, the planner hashed the whole of api_request, which holds
# every request of the retention period, for every group (3.7 ms at 30,000 rows, and growing;
# 0.09 ms by the index).
_ANSWERS = """
    SELECT a.client, a.idempotency_key, a.endpoint, a.request_hash, a.status_code, a.response
    FROM jsonb_to_recordset(CAST(%(keys)s AS jsonb)) AS k(client text, key text)
    CROSS JOIN LATERAL (
        SELECT * FROM api_request AS stored
        WHERE stored.client = k.client AND stored.idempotency_key = k.key
        LIMIT 1
    ) AS a
"""
_CUSTOMERS = """
    SELECT email, id FROM customer
    WHERE email = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(%(emails)s AS jsonb))))
"""
