"""The heap of a long-running process (the engine, a dispatcher, an HTTP worker, a composing
worker): what it holds once set up is kept out of the cyclic garbage collector's way.

May import: nothing of mailengine's.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_AFTER = 10_000
"""Container objects allocated (net of those freed) before the youngest generation is collected
(Python's default: 700). Composing frees nearly all it makes by reference counting: every 700
came every ~20 messages, 0.01-0.015 ms of CPU a message in all; every 10,000, a few a run."""

_heap_state = 0  # 1: frozen at start-up; 2: frozen again once composing filled the caches


def settle_heap(*, composed: bool = True) -> None:
    """Keep what a process's heap holds once it is set up out of the cyclic garbage
    collector's way: its full collections had walked all of it (some 300,000 objects, 30-60
    ms each), every few thousand messages; some 0.04 ms of CPU a message. In an HTTP worker
    they stopped every request for 170-240 ms, three times in 20 s of 500 orders/s, while
    its writer could be holding SQLite's write turn.

    At start-up (`composed` False: modules imported, templates compiled) after a full
    collection (100-120 ms, so that no garbage is kept for good), and once more after the
    first batch (its caches filled) after a collection of the young generations only (a few
    ms: the first batch does not wait 100 ms). Without a start-up call, the first batch
    collects all. Also raises the youngest generation's threshold
    (`YOUNG_COLLECTION_AFTER`)."""
    global _heap_state
    if _heap_state == 2 or (_heap_state == 1 and not composed):
        return
    gc.collect(1 if _heap_state == 1 else 2)
    gc.freeze()
    _heap_state = 2 if composed else 1
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_AFTER), *older)
