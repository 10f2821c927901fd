"""Answering many API requests at once, each at most once per Idempotency-Key.

The intake (`web.intake`) stores concurrent requests of one kind together (events, orders).
For the group, this module looks up the answers stored under the Idempotency-Keys seen
before (a replay, or a 409 for a key used with another request) in one query per client,
lets the first use of a key within the group win (as if the requests had come one after the
other), has the caller write the rest at once, and stores their answers with one INSERT
(both in the driver's own SQL, `store.request_answers`).

On PostgreSQL another process may claim one of the keys between the lookup and the insert:
the insert then fails on the unique index inside a savepoint, and each request is answered
alone, claiming its key first (`reserve_idempotency_key`), as a request on its own does. A
unit of work on SQLite holds the write lock from its start, so nobody can: no savepoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.store.api_queries import StoredAnswer, reserve_idempotency_key, save_answer
from mailengine.store.request_answers import NewAnswer, insert_answers, stored_answers

CONFLICT = 409
KEY_REUSED = "this Idempotency-Key was used for a different request"


class KeyedRequest(Protocol):
    """Who asked (the hash of their API key), their Idempotency-Key if any, and the hash of
    what a retry with that key must repeat. The requests themselves are passed (an incoming
    event or order has these fields), not a record built for each."""

    @property
    def client(self) -> str: ...

    @property
    def request_key(self) -> str | None: ...

    @property
    def request_hash(self) -> str: ...


class RequestAnswer(NamedTuple):
    """The answer to one request (named tuples here: one per event of a batch)."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class Written(NamedTuple):
    """What writing one request gave: its answer, and the customer it was about."""

    status_code: int
    body: dict[str, Any]
    customer_id: int | None


WriteMany = Callable[[list[int]], list[Written]]  # positions -> their answers, in order
WriteOne = Callable[[int], Written]


class Sorted(NamedTuple):
    """A group's requests sorted before anything is written: the answers known already
    (replays, 409s; None for the rest), the positions to write (`fresh`: keyless, or the first
    use of a key not answered before), and the first position of each key."""

    answers: list[RequestAnswer | None]
    fresh: list[int]
    first_of_key: dict[tuple[str, str], int]


def answer_requests(
    session: Session,
    requests: Sequence[KeyedRequest],
    endpoint: str,
    now: datetime,
    write_many: WriteMany,
    write_one: WriteOne,
) -> list[RequestAnswer]:
    """The answer to each request, in order, in the caller's transaction."""
    stored = stored_answers(
        session, [(r.client, r.request_key) for r in requests if r.request_key is not None]
    )
    answers, fresh, first_of_key = sort_requests(requests, stored, endpoint)
    if fresh and _sole_writer(session):
        _write_fresh(session, requests, fresh, answers, endpoint, now, write_many)
    elif fresh:
        try:
            with session.begin_nested():
                _write_fresh(session, requests, fresh, answers, endpoint, now, write_many)
        except IntegrityError:  # another process claimed one of these keys meanwhile
            answer_one_by_one(session, requests, fresh, answers, endpoint, now, write_one)
    return answers_in_order(requests, Sorted(answers, fresh, first_of_key))


def sort_requests(
    requests: Sequence[KeyedRequest],
    stored: dict[tuple[str, str], StoredAnswer],
    endpoint: str,
) -> Sorted:
    """Sort the requests by the answers `stored` under their keys (`stored_answers`): the
    first use of a key within the group wins, as if the requests had come one by one."""
    answers: list[RequestAnswer | None] = [None] * len(requests)
    first_of_key: dict[tuple[str, str], int] = {}
    fresh: list[int] = []
    for index, request in enumerate(requests):
        if request.request_key is None:
            fresh.append(index)
            continue
        pair = (request.client, request.request_key)
        if pair in stored:
            answers[index] = _replay(stored[pair], endpoint, request.request_hash)
        elif pair not in first_of_key:
            first_of_key[pair] = index
            fresh.append(index)
    return Sorted(answers, fresh, first_of_key)


def answers_in_order(requests: Sequence[KeyedRequest], done: Sorted) -> list[RequestAnswer]:
    """Every answer, once the fresh requests are answered: a key used again within the group
    replays its first use's answer (or 409 with another request)."""
    answers = done.answers
    for index, request in enumerate(requests):
        if answers[index] is None:  # a key used again in the same group
            assert request.request_key is not None
            first = done.first_of_key[(request.client, request.request_key)]
            earlier = answers[first]
            assert earlier is not None
            answers[index] = (
                RequestAnswer(earlier.status_code, earlier.body, replayed=True)
                if requests[first].request_hash == request.request_hash
                else RequestAnswer(CONFLICT, {"detail": KEY_REUSED})
            )
    return [answer for answer in answers if answer is not None]


def _sole_writer(session: Session) -> bool:
    """Whether no other connection can store a key between the lookup and the insert: a
    unit of work on SQLite (`Database.transaction`) holds the file's only write lock from its
    BEGIN IMMEDIATE on. Its group then needs no savepoint to fall back from (two statements
    and the session's nested-transaction bookkeeping, inside the write turn)."""
    connection = session.connection()
    return (
        connection.dialect.name == "sqlite"
        and connection.get_execution_options().get("sqlite_begin") == "BEGIN IMMEDIATE"
    )


def _write_fresh(
    session: Session,
    requests: Sequence[KeyedRequest],
    fresh: list[int],
    answers: list[RequestAnswer | None],
    endpoint: str,
    now: datetime,
    write_many: WriteMany,
) -> None:
    keyed = []
    for index, written in zip(fresh, write_many(fresh), strict=True):
        answers[index] = RequestAnswer(written.status_code, written.body)
        request = requests[index]
        if request.request_key is not None:
            keyed.append(
                NewAnswer(
                    request.client, request.request_key, request.request_hash,
                    written.status_code, written.body, written.customer_id,
                )
            )  # fmt: skip
    insert_answers(session, keyed, endpoint, now)


def answer_one_by_one(
    session: Session,
    requests: Sequence[KeyedRequest],
    fresh: list[int],
    answers: list[RequestAnswer | None],
    endpoint: str,
    now: datetime,
    write_one: WriteOne,
) -> None:
    """The slow path, after the group's write was undone (another process claimed one of its
    keys meanwhile): each request claims its key first, as a single request does."""
    for index in fresh:
        answers[index] = None
    for index in fresh:
        request = requests[index]
        if request.request_key is not None:
            stored = reserve_idempotency_key(
                session, request.client, request.request_key, endpoint, request.request_hash, now
            )
            if stored is not None:
                answers[index] = _replay(stored, endpoint, request.request_hash)
                continue
        written = write_one(index)
        answers[index] = RequestAnswer(written.status_code, written.body)
        if request.request_key is not None:
            save_answer(
                session, request.client, request.request_key, written.status_code, written.body,
                written.customer_id,
            )  # fmt: skip


def _replay(stored: StoredAnswer, endpoint: str, request_hash: str) -> RequestAnswer:
    if stored.endpoint != endpoint or stored.request_hash != request_hash:
        return RequestAnswer(CONFLICT, {"detail": KEY_REUSED})
    return RequestAnswer(stored.status_code, stored.response, replayed=True)
