"""Group commit for the API's writes: concurrent requests share one transaction.

A request that writes hands its work to the intake and waits; one writer thread takes every
piece of work that is waiting (up to `MOST_AT_ONCE` events), runs it in one transaction and
commits, and only then are the requests answered. So nothing is answered before it is
stored, a burst costs one transaction instead of one per request (one write lock on SQLite,
one WAL flush on PostgreSQL), and the request threads never queue for SQLite's write lock.

Events and orders go in as data and are stored a group of a kind at a time
(`store.event_intake`, `store.order_intake`: a few statements for the whole group); any other
write (a customer, a batch) goes in as a function of the session and runs in a savepoint of
its own, so that one that fails fails alone (a write alone in its group needs none: its
transaction is rolled back). When the group's commit itself fails, each piece is tried again
in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mailengine.clock import Clock
from mailengine.store.database import Database
from mailengine.store.keyed_requests import RequestAnswer

log = logging.getLogger(__name__)
MOST_AT_ONCE = 2_000  # events (a write counts as one) per transaction

Work = Callable[[Session], Any]
# Stores a group of items of one kind (events, orders) for an endpoint; an answer for each.
GroupStore = Callable[[Session, Sequence[Any], str, datetime], list[RequestAnswer]]


@dataclass
class _Piece:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    items: Sequence[Any] = ()
    store: GroupStore | None = None
    endpoint: str = ""
    work: Work | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = max(1, len(self.items))


class Intake:
    """The writer thread and its queue; one per app."""

    def __init__(
        self, database: Database, clock: Clock, on_stored: Callable[[], None] | None = None
    ) -> None:
        self._database = database
        self._clock = clock
        # Called (on the writer thread) after events or orders were committed: the engine
        # beside the app looks at them now rather than at its next tick.
        self._on_stored = on_stored
        self._waiting: queue.SimpleQueue[_Piece] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def store(
        self, items: Sequence[Any], store: GroupStore, endpoint: str
    ) -> list[RequestAnswer]:
        """Store `items` of one kind (events with `store_events`, orders with `store_orders`)
        in the next group's transaction, together with others of their kind; their answers."""
        answers: list[RequestAnswer] = await self._submit(
            items=items, store=store, endpoint=endpoint
        )
        return answers

    async def run(self, work: Work) -> Any:
        """Run `work(session)` in the next group's transaction; what it returns, once committed."""
        return await self._submit(work=work)

    async def _submit(self, **piece: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_thread()
        self._waiting.put(_Piece(loop, future, **piece))
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_forever, name="api-intake", daemon=True
                )
                self._thread.start()

    def _write_forever(self) -> None:
        while True:
            pieces = [self._waiting.get()]
            size = pieces[0].size
            while size < MOST_AT_ONCE:
                try:
                    piece = self._waiting.get_nowait()
                except queue.Empty:
                    break
                pieces.append(piece)
                size += piece.size
            self._write(pieces)

    def _write(self, pieces: list[_Piece]) -> None:
        try:
            with self._database.transaction() as session:
                results = self._in_transaction(session, pieces)
        except Exception as group_error:  # the commit failed: each piece on its own
            log.exception("storing %d API requests together failed; one by one", len(pieces))
            results = [group_error] * len(pieces)
            for index, piece in enumerate(pieces):
                try:
                    with self._database.transaction() as session:
                        results[index] = self._in_transaction(session, [piece])[0]
                except Exception as error:
                    results[index] = error
        if self._on_stored is not None and any(
            piece.store is not None and not isinstance(result, BaseException)
            for piece, result in zip(pieces, results, strict=True)
        ):
            self._on_stored()
        _settle_all(pieces, results)

    def _in_transaction(self, session: Session, pieces: list[_Piece]) -> list[Any]:
        if len(pieces) == 1 and pieces[0].work is not None:
            return [_lone(session, pieces[0].work)]
        now = self._clock.now()
        results: list[Any] = [None] * len(pieces)
        by_kind: dict[tuple[GroupStore, str], list[int]] = {}
        for index, piece in enumerate(pieces):
            if piece.store is not None:
                by_kind.setdefault((piece.store, piece.endpoint), []).append(index)
        for (store, endpoint), indexes in by_kind.items():
            items = [item for i in indexes for item in pieces[i].items]
            answers = store(session, items, endpoint, now)
            start = 0
            for i in indexes:
                count = len(pieces[i].items)
                results[i] = answers[start : start + count]
                start += count
        for index, piece in enumerate(pieces):
            if piece.work is None:
                continue
            try:
                with session.begin_nested():
                    results[index] = piece.work(session)
            except Exception as error:  # this write alone fails
                results[index] = error
        return results


def _lone(session: Session, work: Work) -> Any:
    """What a write alone in its group gives, or its exception (then nothing of it is
    committed): no savepoint to keep other writes from its failure, two round trips fewer
    on PostgreSQL (a batch's requests come in groups of their own more often than not)."""
    try:
        return work(session)
    except Exception as error:  # this write alone fails; the empty transaction commits
        session.rollback()
        return error


def _settle_all(pieces: list[_Piece], results: list[Any]) -> None:
    """Answer the pieces with their results (an exception is raised to its request): one call
    into each event loop for the whole group, not one wake-up of the loop per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Piece, Any]]] = {}
    for piece, result in zip(pieces, results, strict=True):
        by_loop.setdefault(piece.loop, []).append((piece, result))

    def settle(answered: list[tuple[_Piece, Any]]) -> None:
        for piece, result in answered:
            if piece.future.done():  # the request went away
                continue
            if isinstance(result, BaseException):
                piece.future.set_exception(result)
            else:
                piece.future.set_result(result)

    for loop, answered in by_loop.items():
        # A closed loop: the process is stopping and nobody waits for the answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, answered)
