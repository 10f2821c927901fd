"""Composed messages waiting for an SMTP worker, by recipient domain.

The domains take turns, and a domain with its share of the connections in flight waits
until one of its messages is done: a domain whose server stalls holds no more than its share.
A domain at its share none of whose messages has been done for `STALLED_AFTER` seconds is
taken as stalled: its waiting messages no longer count as ready to go, so that the producer
claims past them and the other domains' mail keeps coming.

The share protects other domains; while no other domain has mail waiting, an idle connection
protects nobody. So a domain that is the only one with mail waiting may use connections past
its share while its server answers: one of its messages was done, and the oldest of those in
flight was taken, less than `BORROW_WHILE_ANSWERED_WITHIN` seconds ago. (On the trigger bench,
all mail to one domain, a dispatcher process with 2 connections and a share of 1 left one of
them idle.) The cost: should the domain's server stall right while it borrows, the
connections it took in that second stay held until their sends time out, and another
domain's mail arriving then waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailengine.outbound.transport.base import Envelope
from mailengine.store.records import ClaimedSend

STALLED_AFTER = 2.0
BORROW_WHILE_ANSWERED_WITHIN = 1.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A claimed message, composed and ready for the mail server."""

    send: ClaimedSend
    envelope: Envelope

    @property
    def domain(self) -> str:
        return self.envelope.rcpt_to.rpartition("@")[2].lower()


class DomainQueue:
    """Composed messages waiting for a worker, by recipient domain, taken in turn; a domain
    with `share` messages in flight waits until one of them is done."""

    def __init__(self, share: int) -> None:
        self.share = max(1, share)
        self.closed = False  # no more takes: stopping
        self._complete = False  # nothing more will come (all due was claimed)
        self._by_domain: dict[str, deque[Prepared]] = {}
        # domain -> outbox id -> when taken: its messages in flight
        self._sending_since: dict[str, dict[int, float]] = {}
        self._answered: dict[str, float] = {}  # domain -> when one of it was last done
        self._moved: dict[str, float] = {}  # domain -> when one of it was last taken or done
        self._count = 0
        self._arrived = _Signal()  # workers wait on it: a message came, or a domain has room
        self._left = _Signal()  # the producer waits on it: fewer wait than it asks for
        self._refill_below = 0  # the producer's `ready`, while it waits

    def put(self, items: Iterable[Prepared]) -> None:
        for item in items:
            self._by_domain.setdefault(item.domain, deque()).append(item)
            self._count += 1
        self._arrived.wake()

    async def take(self) -> Prepared | None:
        """The next message to send, or None once closed or drained."""
        while not self.closed:
            item = self._pick()
            if item is not None:
                return item
            if self._complete and not self._count:
                return None
            await self._arrived.wait()
        return None

    def done(self, item: Prepared) -> None:
        """Its connection is free again."""
        domain = item.domain
        self._sending_since[domain].pop(item.send.id, None)
        self._moved[domain] = self._answered[domain] = asyncio.get_running_loop().time()
        if domain in self._by_domain and (
            self._in_flight(domain) == self.share - 1 or len(self._by_domain) == 1
        ):
            self._arrived.wake()  # one of its waiting messages may go now

    async def room_for(self, ready: int, waiting: int) -> None:
        """Until fewer than `ready` messages can go now and fewer than `waiting` wait in
        all, or closed."""
        self._refill_below = ready
        while not self.closed and (self._ready() >= ready or self._count >= waiting):
            with contextlib.suppress(TimeoutError):  # a domain may stall meanwhile
                async with asyncio.timeout(STALLED_AFTER):
                    await self._left.wait()
        self._refill_below = 0

    def complete(self) -> None:
        self._complete = True
        self._arrived.wake()

    def close(self) -> None:
        self.closed = True
        self._arrived.wake()
        self._left.wake()

    def remove(self, which: Callable[[Prepared], bool]) -> list[Prepared]:
        removed: list[Prepared] = []
        for domain, items in list(self._by_domain.items()):
            kept: deque[Prepared] = deque()
            for item in items:
                (removed if which(item) else kept).append(item)
            if kept:
                self._by_domain[domain] = kept
            else:
                del self._by_domain[domain]
        self._count -= len(removed)
        self._left.wake()
        if self._complete and not self._count:
            self._arrived.wake()  # drained: the workers are done
        return removed

    def take_all(self) -> list[Prepared]:
        return self.remove(lambda item: True)

    def _pick(self) -> Prepared | None:
        now = asyncio.get_running_loop().time()
        for domain, items in self._by_domain.items():
            if self._in_flight(domain) >= self.share and not self._may_borrow(domain, now):
                continue
            item = items.popleft()
            del self._by_domain[domain]
            if items:  # to the back of the line: the domains take turns
                self._by_domain[domain] = items
            elif len(self._by_domain) == 1:
                self._arrived.wake()  # the one domain left waiting may borrow now
            self._sending_since.setdefault(domain, {})[item.send.id] = now
            self._moved[domain] = now
            self._count -= 1
            if self._count < self._refill_below:
                self._left.wake()
            return item
        return None

    def _in_flight(self, domain: str) -> int:
        return len(self._sending_since.get(domain, ()))

    def _may_borrow(self, domain: str, now: float) -> bool:
        """Whether `domain` may take a connection past its share: no other domain has mail
        waiting, and its server has been answering."""
        if len(self._by_domain) != 1 or domain not in self._answered:
            return False
        oldest = min(self._sending_since[domain].values(), default=now)
        since = now - BORROW_WHILE_ANSWERED_WITHIN
        return self._answered[domain] > since and oldest > since

    def _ready(self) -> int:
        """How many waiting messages will go soon: those of domains not stalled."""
        stalled_before = asyncio.get_running_loop().time() - STALLED_AFTER
        return sum(
            len(items)
            for domain, items in self._by_domain.items()
            if self._in_flight(domain) < self.share or self._moved[domain] > stalled_before
        )


class _Signal:
    """Wakes every task waiting on it; a task checks its condition and waits again."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def wake(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
