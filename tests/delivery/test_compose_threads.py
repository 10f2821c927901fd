"""Composing on the dispatcher's threads: a batch handed over in a few chunks, its messages
back in order, and the heap settled once a process has composed."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from mailengine import heap
from mailengine.outbound.compose_pool import (
    CHUNKS_PER_WORKER,
    ComposeTask,
    ComposeThreads,
    ReadyToSend,
)
from mailengine.outbound.composer import Composer
from mailengine.outbound.transport.base import Envelope
from mailengine.store.recipients import RecipientSnapshot
from mailengine.store.records import ClaimedSend
from tests.conftest import NOW


@dataclass(frozen=True)
class Send:
    id: int


@dataclass(frozen=True)
class Made:
    envelope: Envelope
    tracked: None = None


class NumberingComposer:
    """Makes a message naming its send, and notes the threads it ran on."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def compose(self, send: Send, *rest: Any) -> Made:
        self.threads.add(threading.get_ident())
        return Made(Envelope("bounce@shop.example", "to@example.com", b"%d" % send.id, "<m>"))


def tasks(count: int) -> list[ComposeTask]:
    recipient = cast(RecipientSnapshot, None)
    return [ComposeTask(cast(ClaimedSend, Send(number)), recipient) for number in range(count)]


def test_a_batch_goes_to_the_threads_in_chunks_and_comes_back_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "_heap_state", 2)
    composer = NumberingComposer()
    pool = ComposeThreads(cast(Composer, composer), 2)
    handed: list[object] = []
    submit: Callable[..., Any] = pool._executor.submit

    def counted(*args: Any, **kwargs: Any) -> Any:
        handed.append(args)
        return submit(*args, **kwargs)

    monkeypatch.setattr(pool._executor, "submit", counted)
    try:
        for count in (0, 1, 7, 200):
            handed.clear()
            composed = pool.compose(tasks(count), NOW)
            assert [cast(ReadyToSend, made).envelope.data for made in composed] == [
                b"%d" % number for number in range(count)
            ]
            assert len(handed) <= 2 * CHUNKS_PER_WORKER
        assert len(handed) == 2 * CHUNKS_PER_WORKER  # 200 messages: every thread had work
    finally:
        pool.close()


def counted_collections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The generations `gc.collect` is asked for from now on (none is collected)."""
    collections: list[int] = []

    def collect(generation: int = 2) -> int:
        collections.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    return collections


def test_the_heap_is_settled_once_a_process_has_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_heap_state", 0)
    monkeypatch.setattr(gc, "set_threshold", lambda *_: None)  # the test process's stays
    collections = counted_collections(monkeypatch)
    frozen = gc.get_freeze_count()
    pool = ComposeThreads(cast(Composer, NumberingComposer()), 2)
    try:
        pool.compose(tasks(3), NOW)
        assert collections == [2]  # garbage collected first: none of it is kept for good
        assert gc.get_freeze_count() > frozen
        pool.compose(tasks(3), NOW)
        assert collections == [2]
    finally:
        pool.close()


def test_a_started_pool_settles_the_heap_then_and_lightly_after_the_first_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "_heap_state", 0)
    thresholds: list[tuple[int, ...]] = []
    monkeypatch.setattr(gc, "set_threshold", lambda *values: thresholds.append(values))
    collections = counted_collections(monkeypatch)
    pool = ComposeThreads(cast(Composer, NumberingComposer()), 2)
    try:
        pool.start()
        assert collections == [2]  # at start-up, all of it
        pool.compose(tasks(3), NOW)
        pool.compose(tasks(3), NOW)
        assert collections == [2, 1]  # after the first batch, the young generations only
        assert thresholds[-1][0] >= heap.YOUNG_COLLECTION_AFTER
    finally:
        pool.close()
