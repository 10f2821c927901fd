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
    queue = DomainQueue(share=1)
    queue.put([_prepared(n, "stall.example") for n in range(3)])
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
