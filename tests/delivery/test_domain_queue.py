"""The queue of composed messages: domains take turns, none holds more than its share of the
connections, and a domain that stalls no longer counts as ready to go."""

from __future__ import annotations

import asyncio

import pytest

from mailengine.outbound import domain_queue
from mailengine.outbound.domain_queue import DomainQueue, Prepared
from mailengine.outbound.transport.base import Envelope
from mailengine.store.records import ClaimedSend
from tests.conftest import NOW


def _prepared(number: int, domain: str) -> Prepared:
    recipient = f"p{number}@{domain}"
    send = ClaimedSend(
        number, f"k{number}", "marketing", "w", "1", None, recipient, "t", "s", None, {},
        f"<{number}@shop.example>", 1, NOW,
    )  # fmt: skip
    return Prepared(send, Envelope("bounce@shop.example", recipient, b"x", send.message_id))


def _filled(*, share: int, domain: str, count: int) -> DomainQueue:
    queue = DomainQueue(share=share)
    queue.put([_prepared(n, domain) for n in range(count)])
    return queue


async def test_domains_take_turns_and_none_exceeds_its_share() -> None:
    queue = DomainQueue(share=2)
    queue.put([_prepared(n, "a.example") for n in range(5)])
    queue.put([_prepared(n, "b.example") for n in range(5, 7)])
    taken = [await queue.take() for _ in range(4)]
    assert [item.domain for item in taken if item] == ["a.example", "b.example"] * 2
    waiting = asyncio.create_task(queue.take())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # both domains have their two in flight
    assert taken[1] is not None
    queue.done(taken[1])  # one of b's is done, but b has nothing waiting
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert taken[0] is not None
    queue.done(taken[0])
    item = await asyncio.wait_for(waiting, 5)
    assert item is not None
    assert item.send.id == 2  # a's next, in order


async def test_a_stalled_domain_no_longer_counts_as_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(domain_queue, "STALLED_AFTER", 0.05)
    queue = _filled(share=1, domain="stall.example", count=3)
    assert await queue.take() is not None
    with pytest.raises(TimeoutError):  # two wait, and the domain is moving: no room
        await asyncio.wait_for(queue.room_for(ready=2, waiting=10), 0.02)
    await asyncio.wait_for(queue.room_for(ready=2, waiting=10), 5)  # stalled: room
    with pytest.raises(TimeoutError):  # but never more than `waiting` in all
        await asyncio.wait_for(queue.room_for(ready=2, waiting=2), 0.2)


async def test_takers_stop_when_drained_or_closed() -> None:
    queue = DomainQueue(share=4)
    queue.put([_prepared(1, "a.example")])
    queue.complete()
    assert await queue.take() is not None
    assert await queue.take() is None  # nothing more will come
    closing = DomainQueue(share=4)
    waiting = asyncio.create_task(closing.take())
    await asyncio.sleep(0.01)
    closing.close()
    assert await asyncio.wait_for(waiting, 5) is None


async def test_the_only_domain_waiting_borrows_while_its_server_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(domain_queue, "BORROW_WHILE_ANSWERED_WITHIN", 0.2)
    queue = _filled(share=1, domain="a.example", count=6)
    first = await queue.take()
    assert first is not None
    with pytest.raises(TimeoutError):  # nothing answered yet: its share only
        await asyncio.wait_for(queue.take(), 0.05)
    queue.done(first)
    taken = [await asyncio.wait_for(queue.take(), 1) for _ in range(3)]  # answered: borrows
    assert all(taken)
    queue.put([_prepared(n, "b.example") for n in (10, 11)])
    other = await asyncio.wait_for(queue.take(), 1)  # another domain waits: it goes ...
    assert other is not None and other.domain == "b.example"
    with pytest.raises(TimeoutError):  # ... and a.example no longer borrows
        await asyncio.wait_for(queue.take(), 0.05)
    await asyncio.sleep(0.25)
    queue.done(other)
    last = await asyncio.wait_for(queue.take(), 1)
    assert last is not None and last.send.id == 11
    with pytest.raises(TimeoutError):  # alone again, but its server has not answered lately
        await asyncio.wait_for(queue.take(), 0.05)
    for item in taken:
        assert item is not None
        queue.done(item)
    assert await asyncio.wait_for(queue.take(), 1) is not None  # its share, as ever
