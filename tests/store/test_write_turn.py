"""An urgent unit of work (a dispatcher's outcome commit, which SMTP workers wait for) takes the
write turn ahead of the others waiting, among threads and among processes; the others are held
back by it for at most `YIELD_MOST`."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mailengine.store.write_turn import URGENT_SUFFIX, YIELD_MOST, WriteTurn

WAIT = 5.0


def _in_turn(
    turn: WriteTurn, name: str, order: list[str], *, urgent: bool = False
) -> threading.Thread:
    def work() -> None:
        with turn(urgent=urgent):
            order.append(name)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _held(turn: WriteTurn) -> tuple[threading.Event, Callable[[], None]]:
    """Hold `turn` on a thread of its own until the returned function is called."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turn():
            held.set()
            release.wait(WAIT)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(WAIT)

    def let_go() -> None:
        release.set()
        thread.join(WAIT)

    return held, let_go


def test_an_urgent_thread_goes_ahead_of_threads_that_waited_longer(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "shop.db", wait_seconds=WAIT)
    order: list[str] = []
    _, let_go = _held(turn)
    waiting = [_in_turn(turn, f"normal {n}", order) for n in range(2)]
    time.sleep(0.05)  # both wait for the thread lock
    waiting.append(_in_turn(turn, "urgent", order, urgent=True))
    time.sleep(0.05)
    let_go()
    for thread in waiting:
        thread.join(WAIT)
    assert order[0] == "urgent"
    assert sorted(order[1:]) == ["normal 0", "normal 1"]


def test_an_urgent_process_goes_ahead_of_a_process_that_waited_longer(tmp_path: Path) -> None:
    """Each `WriteTurn` opens lock files of its own: to `flock` they are as many processes."""
    database = tmp_path / "shop.db"
    holder, normal, urgent = (WriteTurn(database, wait_seconds=WAIT) for _ in range(3))
    order: list[str] = []
    _, let_go = _held(holder)
    waiting = [_in_turn(normal, "normal", order)]
    time.sleep(0.05)  # it asks for the file lock every millisecond
    waiting.append(_in_turn(urgent, "urgent", order, urgent=True))
    time.sleep(0.05)
    let_go()
    for thread in waiting:
        thread.join(WAIT)
    assert order == ["urgent", "normal"]


def test_an_urgent_process_that_never_takes_its_turn_holds_the_others_back_briefly(
    tmp_path: Path,
) -> None:
    """One announced as urgent (its shared lock on the urgent file) but stopped before it took
    its turn: the others wait for it `YIELD_MOST`, then go on."""
    database = tmp_path / "shop.db"
    stuck = os.open(database.with_name(database.name + URGENT_SUFFIX), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(stuck, fcntl.LOCK_SH)
        turn = WriteTurn(database, wait_seconds=WAIT)
        started = time.monotonic()
        with turn():
            waited = time.monotonic() - started
    finally:
        os.close(stuck)
    assert YIELD_MOST <= waited < YIELD_MOST + 1.0
    started = time.monotonic()
    with turn():  # nobody urgent now: at once
        assert time.monotonic() - started < YIELD_MOST


def test_nested_units_of_work_of_one_thread_share_its_turn(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "shop.db", wait_seconds=WAIT)
    other = WriteTurn(tmp_path / "shop.db", wait_seconds=0.2)
    with turn(), turn(urgent=True):
        pass
    with turn():
        started = time.monotonic()
        with other():  # another process: it waits for its own busy timeout, then goes on
            assert time.monotonic() - started >= 0.2
    with other():  # given back after the outer block
        pass
