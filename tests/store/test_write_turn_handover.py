"""A process that lets go of SQLite's write turn while an HTTP worker waits for it (one that
announces its waits) lets the worker have it before taking it again; with nobody waiting, it
takes it again at once."""

from __future__ import annotations

import time
from pathlib import Path

from mailengine.store.write_turn import HAND_OVER_SECONDS, WriteTurn
from tests.turn_waiters import waiter


def test_a_waiting_http_worker_gets_the_turn_between_two_units_of_work(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    turn = WriteTurn(database, 10.0)
    with turn():
        worker = waiter(database, announce=True, hold_seconds=0.3)
        time.sleep(0.2)  # the waiter polls at its slowest now
    started = time.monotonic()
    with turn():  # the next unit of work, at once
        waited = time.monotonic() - started
    worker.communicate(timeout=10)
    assert waited > 0.2  # the worker held it in between


def test_with_nobody_announced_waiting_units_of_work_follow_at_once(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "shop.db", 10.0)
    started = time.monotonic()
    for _ in range(50):
        with turn():
            pass
    assert time.monotonic() - started < 50 * HAND_OVER_SECONDS / 2
