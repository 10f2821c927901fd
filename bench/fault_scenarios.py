"""The fault scenarios of bench/faults.py: each runs real `mailengine run` processes against a
peer on 127.0.0.1, injects its fault, waits for the mail to settle and says what arrived.

A scenario waits until every outbox row is final, or until nothing has arrived for as long
as the engine needs to send again what it holds (its lease, its first retry; at most
`--patience` seconds): what has not arrived by then is counted lost, and the outbox's states
at that moment are in the notes.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.fault_peer import AFFECTED_DOMAIN, FAULTS, FaultyPeer, start_peer
from bench.fault_shop import (
    Shop,
    affected_address,
    database_outage,
    engine_dispatch,
    postgres_database,
    prepare_shop,
)
from mailengine.store.outbox import FINAL_STATES
from tests.delivery.mass_send import customer_address

JITTER = 1.2  # retries come up to 20 % late (Dispatcher._backoff)
MARGIN = 15.0  # seconds beyond a lease or a retry for the engine's tick and a busy machine
OUTAGE_SECONDS = 10.0
RESUME_PATIENCE = 60.0
"""How long a restarted engine is given to send again before it is killed once more."""
KILL_QUIET = 10.0
"""A kill waits for its share of the mail to arrive, or for this long with nothing arriving
(a restarted engine left with only rows the killed one holds)."""


@dataclass(frozen=True)
class Run:
    """What every scenario is given."""

    folder: Path
    messages: int
    variables: dict[str, str]
    patience: float


@dataclass
class Row:
    scenario: str
    expected: int
    received: int
    unique: int
    lost: int
    duplicates: int
    resume: list[float | None] = field(default_factory=list)  # seconds; None: never resumed
    took: float = 0.0
    notes: list[str] = field(default_factory=list)


def tally(scenario: str, peer: FaultyPeer, shop: Shop, failing: set[str], took: float) -> Row:
    """Compare what arrived with what should have: every planned message but those to
    `failing` recipients (expected permanent failures)."""
    expected = {r: m for r, m in shop.expected.items() if r not in failing}
    arrived = Counter(peer.arrivals)
    right = {r for r, m in arrived if expected.get(r) == m}
    row = Row(
        scenario,
        expected=len(expected),
        received=len(peer.arrivals),
        unique=len(arrived),
        lost=len(expected.keys() - right),
        duplicates=len(peer.arrivals) - len(arrived),
        took=took,
    )
    strays = [r for r, m in arrived if expected.get(r) != m]
    if strays:
        row.notes.append(f"{len(strays)} arrived that should not have (or with another ID)")
    return row


def first_arrival_after(peer: FaultyPeer, moment: float) -> float | None:
    index = bisect.bisect_right(peer.times, moment)
    return peer.times[index] - moment if index < len(peer.times) else None


def longest_silence(peer: FaultyPeer) -> float:
    """The longest time between two messages arriving (start-up is not counted)."""
    return max((b - a for a, b in itertools.pairwise(peer.times)), default=0.0)


async def arrivals_reach(peer: FaultyPeer, count: int, shop: Shop, quiet: float) -> bool:
    """Wait until `count` messages arrived (True), or until nothing has arrived for `quiet`
    seconds (False); fail when an engine ends by itself."""
    last, moved = len(peer.arrivals), time.monotonic()
    while len(peer.arrivals) < count:
        ended = [e for e in shop.engines if e.process.poll() not in (None, -9)]
        if ended:
            raise RuntimeError(f"{ended[0].name} ended: {ended[0].log_text()[-1500:]}")
        if len(peer.arrivals) != last:
            last, moved = len(peer.arrivals), time.monotonic()
        elif time.monotonic() - moved > quiet:
            return False
        await asyncio.sleep(0.02)
    return True


async def settle(shop: Shop, peer: FaultyPeer, wait: float) -> dict[str, int]:
    """Wait until every row is final, or for `wait` seconds in which nothing arrived and the
    outbox did not change; returns the outbox's states then."""
    quiet_since, arrived = time.monotonic(), len(peer.arrivals)
    last: dict[str, int] | None = None
    while True:
        states = await asyncio.to_thread(_states_or_none, shop)
        if states is not None and not set(states) - set(FINAL_STATES):
            return states
        if len(peer.arrivals) != arrived or (states is not None and states != last):
            quiet_since, arrived = time.monotonic(), len(peer.arrivals)
            last = states if states is not None else last
        elif time.monotonic() - quiet_since > wait:
            return states or last or {}
        await asyncio.sleep(1.0)


def _states_or_none(shop: Shop) -> dict[str, int] | None:
    try:
        return shop.states()
    except Exception:  # the database is down (the outage scenario): ask again
        return None


def _wait_for_lease(run: Run) -> float:
    configured = engine_dispatch(run.variables).lease
    lease = 600.0 if configured is None else configured.total_seconds()
    return min(run.patience, lease + MARGIN)


def _wait_for_retry(run: Run) -> float:
    first = engine_dispatch(run.variables).first_retry.total_seconds()
    return min(run.patience, first * JITTER + MARGIN)


async def _finish(row: Row, shop: Shop, states: dict[str, int], waited: float) -> None:
    """Note what was still pending and which engines ended by themselves; stop the rest
    (on a thread: the peers answer on this event loop, and must go on answering)."""
    pending = {s: n for s, n in sorted(states.items()) if s not in FINAL_STATES}
    if pending:
        row.notes.append(f"still pending after {waited:.0f} s of silence: {pending}")
    died = [
        f"{e.name} ({e.process.returncode})"
        for e in shop.engines
        if e.process.poll() not in (None, -9)
    ]
    if died:
        row.notes.append(f"ended by itself: {', '.join(died)}")
    running = [e for e in shop.engines if e.process.poll() is None]
    codes = await asyncio.gather(*(asyncio.to_thread(e.stop) for e in running))
    if any(code != 0 for code in codes):
        row.notes.append(f"exit codes on SIGTERM: {list(codes)}")


async def kill_three_times(run: Run) -> Row:
    """kill -9 the engine at a quarter, half and three quarters of the mail; start it again
    at once each time. Resume delay: from each restart to the next message received."""
    peer = FaultyPeer()
    server = await start_peer(peer)
    folder = run.folder / "kill"
    shop: Shop | None = None
    try:
        url = f"sqlite:///{folder / 'shop.db'}"
        shop = await _prepared(folder, url, server.port, run.messages, run.variables)
        started = time.monotonic()
        engine = shop.start_engine("engine-1")
        restarts: list[float] = []
        notes: list[str] = []
        resume_wait = min(run.patience, RESUME_PATIENCE)
        for number, share in enumerate((0.25, 0.5, 0.75), start=2):
            # sending again (start-up takes seconds), then on to its share or quiet
            resumed = await arrivals_reach(peer, len(peer.arrivals) + 1, shop, resume_wait)
            if not resumed or not await arrivals_reach(
                peer, int(run.messages * share), shop, KILL_QUIET
            ):
                notes.append(
                    f"kill {number - 1} came at {len(peer.arrivals)} arrivals, with nothing "
                    f"arriving for {resume_wait if not resumed else KILL_QUIET:.0f} s"
                )
            await asyncio.to_thread(engine.kill9)
            restarts.append(time.monotonic())
            engine = shop.start_engine(f"engine-{number}")
        wait = _wait_for_lease(run)
        states = await settle(shop, peer, wait)
        row = tally("kill -9 x3 (SQLite)", peer, shop, set(), time.monotonic() - started)
        row.resume = [first_arrival_after(peer, moment) for moment in restarts]
        row.notes.extend(notes)
        await _finish(row, shop, states, wait)
    finally:
        await asyncio.to_thread(_stop_all, shop)
        await server.close()
    return row


_MIGRATING = asyncio.Lock()
"""Alembic keeps its migration context in module state: one database upgrade at a time."""


async def _prepared(
    folder: Path,
    url: str,
    port: int,
    messages: int,
    variables: dict[str, str],
    address: Callable[[int], str] = customer_address,
) -> Shop:
    async with _MIGRATING:
        return await asyncio.to_thread(
            prepare_shop, folder, url, port, messages, variables, address
        )


def _stop_all(shop: Shop | None) -> None:
    if shop is not None:
        shop.stop_engines()


async def four_dispatchers(run: Run) -> Row | str:
    """Four engines on one PostgreSQL database share the mail."""
    with postgres_database() as url:
        if url is None:
            return "no PostgreSQL reachable"
        peer = FaultyPeer()
        server = await start_peer(peer)
        shop: Shop | None = None
        try:
            shop = await _prepared(
                run.folder / "four", url, server.port, run.messages, run.variables
            )
            started = time.monotonic()
            for number in range(1, 5):
                shop.start_engine(f"engine-{number}")
            states = await settle(shop, peer, _wait_for_lease(run))
            row = tally("4 engines (PostgreSQL)", peer, shop, set(), time.monotonic() - started)
            row.notes.append(f"longest silence {longest_silence(peer):.1f} s")
            await _finish(row, shop, states, _wait_for_lease(run))
            row.notes.append(f"sent per engine: {_sent_per_engine(shop)}")
        finally:
            await asyncio.to_thread(_stop_all, shop)
            await server.close()
    return row


_READY = re.compile(r"outbox: \d+ claimed, (\d+) ready for the mail server")


def _sent_per_engine(shop: Shop) -> str:
    """From each engine's log: how many messages its batches gave to the mail server."""
    counts = [sum(int(n) for n in _READY.findall(e.log_text())) for e in shop.engines]
    return " / ".join(str(count) for count in counts)


async def misbehaving_peer(run: Run, name: str, messages: int) -> Row:
    """One engine, a peer playing the fault `name` to a tenth of the recipients."""
    fault = FAULTS[name]
    peer = FaultyPeer(fault)
    server = await start_peer(peer)
    folder = run.folder / re.sub(r"\W+", "-", name)
    shop: Shop | None = None
    try:
        url = f"sqlite:///{folder / 'shop.db'}"
        shop = await _prepared(folder, url, server.port, messages, run.variables, affected_address)
        affected = {r for r in shop.expected if r.endswith("@" + AFFECTED_DOMAIN)}
        started = time.monotonic()
        shop.start_engine("engine")
        wait = _wait_for_retry(run)
        states = await settle(shop, peer, wait)
        failing = affected if fault.permanent else set()
        row = tally(f"peer: {name}", peer, shop, failing, time.monotonic() - started)
        _peer_notes(row, peer, shop, affected, started)
        await _finish(row, shop, states, wait)
    finally:
        await asyncio.to_thread(_stop_all, shop)
        await server.close()
    return row


def _peer_notes(row: Row, peer: FaultyPeer, shop: Shop, affected: set[str], started: float) -> None:
    arrived_at: dict[tuple[str, str], float] = {}  # when each first arrived
    for pair, moment in zip(peer.arrivals, peer.times, strict=True):
        arrived_at.setdefault(pair, moment)
    normal = [arrived_at.get(pair) for pair in shop.expected.items() if pair[0] not in affected]
    times = [moment for moment in normal if moment is not None]
    done = f"after {max(times) - started:.1f} s" if times and len(times) == len(normal) else "no"
    first = first_arrival_after(peer, started)
    row.notes.append(
        f"first message {'never' if first is None else f'{first:.1f} s'} after the engine's "
        "start; "
        f"fault played {peer.faults_played}x; connections {peer.connections} "
        f"(refused {peer.refused_connections}); unaffected mail all in: {done}; "
        f"longest silence {longest_silence(peer):.1f} s"
    )


async def peers(run: Run) -> list[Row]:
    """Every misbehaving peer at once (each its own engine and database): they spend most
    of their time waiting for retries."""
    messages = max(100, run.messages // 10)
    return list(await asyncio.gather(*(misbehaving_peer(run, name, messages) for name in FAULTS)))


async def database_outage_mid_send(run: Run) -> Row | str:
    """PostgreSQL cuts the engine's connections and refuses new ones for 10 s mid-send.
    Resume delay: from the database taking connections again to the next message."""
    with postgres_database() as url:
        if url is None:
            return "no PostgreSQL reachable"
        peer = FaultyPeer()
        server = await start_peer(peer)
        shop: Shop | None = None
        messages = max(500, run.messages // 2)
        try:
            shop = await _prepared(run.folder / "outage", url, server.port, messages, run.variables)
            started = time.monotonic()
            shop.start_engine("engine")
            if not await arrivals_reach(peer, messages // 3, shop, run.patience):
                raise RuntimeError(f"stuck at {len(peer.arrivals)} arrivals before the outage")
            cut = time.monotonic()
            back = await database_outage(url, OUTAGE_SECONDS)
            during = bisect.bisect_left(peer.times, back) - bisect.bisect_left(peer.times, cut)
            wait = _wait_for_lease(run)
            states = await settle(shop, peer, wait)
            row = tally(
                "database outage 10 s (PostgreSQL)", peer, shop, set(), time.monotonic() - started
            )
            row.resume = [first_arrival_after(peer, back)]
            row.notes.append(f"{during} arrived while the database was down")
            await _finish(row, shop, states, wait)
        finally:
            await asyncio.to_thread(_stop_all, shop)
            await server.close()
    return row
