"""Threads that only compute (composing) stand aside while another thread of their process
holds a write turn, for a short unit of work's time, never for a long one's."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mailengine.store.write_turn import WriteTurn, stand_aside_for_writers


def _held_in_another_thread(turn: WriteTurn, seconds: float) -> threading.Thread:
    taken = threading.Event()

    def hold() -> None:
        with turn():
            taken.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(5)
    return holder


def test_nobody_writing_means_no_wait() -> None:
    started = time.monotonic()
    assert not stand_aside_for_writers(5.0)
    assert time.monotonic() - started < 0.5


def test_a_short_unit_of_work_is_waited_out(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "shop.db", 10.0)
    holder = _held_in_another_thread(turn, 0.1)
    assert stand_aside_for_writers(5.0)
    holder.join(1.0)  # it let go of the turn before this thread went on
    assert not holder.is_alive()
    assert not stand_aside_for_writers(5.0)


def test_a_long_unit_of_work_holds_computing_back_only_at_its_start(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "shop.db", 10.0)
    holder = _held_in_another_thread(turn, 1.0)
    started = time.monotonic()
    stand_aside_for_writers(0.2)
    assert 0.1 < time.monotonic() - started < 0.6  # up to 0.2 s after the turn began
    started = time.monotonic()
    assert not stand_aside_for_writers(0.2)  # past that: composing goes on beside it
    assert time.monotonic() - started < 0.05
    assert holder.is_alive()
    holder.join()
