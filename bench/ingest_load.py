"""A load client for the HTTP API: many keep-alive connections over raw asyncio streams.

The client must cost far less than the server it measures on the same two cores, so it
writes HTTP/1.1 requests itself and reads only the status line, the headers it needs and the
body's length (no HTTP library: httpx spends ~0.5 ms of CPU a request). Used by
`ingest_bench.py`; loopback only.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Body = Callable[[int], dict[str, Any]]  # request number -> JSON body


@dataclass
class Outcome:
    """What one run saw: latencies (seconds) of the answered requests, statuses, and which
    Idempotency-Keys were answered 202/201/200 (accepted), replayed or refused."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    replayed: int = 0
    errors: int = 0
    seconds: float = 0.0
    sent: int = 0

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class Load:
    """`requests` in all over `connections`; at `rate` requests/s in all (None: as fast as
    answers come); a `retry_share` of them sent again with the same key and body."""

    host: str
    port: int
    path: str
    api_key: str
    requests: int
    connections: int
    body: Body
    rate: float | None = None
    retry_share: float = 0.05
    time_limit: float = 120.0


async def run_load(load: Load) -> Outcome:
    """Run `load`; the client's cyclic garbage collector is off meanwhile: a full collection
    of this process's heap (SQLAlchemy and the bench's own modules imported) stopped every
    connection for 50-80 ms, counted as the server's latency."""
    gc.collect()
    gc.disable()
    try:
        return await _run_load(load)
    finally:
        gc.enable()


async def _run_load(load: Load) -> Outcome:
    outcome = Outcome()
    numbers = iter(range(load.requests))
    started = time.perf_counter()
    interval = None if load.rate is None else 1.0 / load.rate

    def next_number() -> int | None:
        number = next(numbers, None)
        if number is None or time.perf_counter() - started > load.time_limit:
            return None
        return number

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(load.host, load.port)
        try:
            while (number := next_number()) is not None:
                if interval is not None:  # open loop: request n is due at n * interval
                    delay = started + number * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                key = uuid.uuid4().hex
                payload = json.dumps(load.body(number), separators=(",", ":")).encode()
                tries = 2 if (number * 7919) % 1000 < load.retry_share * 1000 else 1
                for attempt in range(tries):
                    status, replayed, latency = await _request(
                        reader, writer, load, key, payload, started, number,
                        interval if attempt == 0 else None,
                    )  # fmt: skip
                    outcome.sent += 1
                    outcome.record(status, latency)
                    if replayed:
                        outcome.replayed += 1
                    elif status in (200, 201, 202) and attempt == 0:
                        outcome.accepted.add(key)
        except (ConnectionError, asyncio.IncompleteReadError):
            outcome.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(load.connections)))
    outcome.seconds = time.perf_counter() - started
    return outcome


async def _request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    load: Load,
    key: str,
    payload: bytes,
    started: float,
    number: int,
    interval: float | None,
) -> tuple[int, bool, float]:
    head = (
        f"POST {load.path} HTTP/1.1\r\nHost: {load.host}:{load.port}\r\n"
        f"Authorization: Bearer {load.api_key}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    sent_at = time.perf_counter()
    writer.write(head.encode() + payload)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split(b" ", 2)[1])
    length, replayed = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length":
            length = int(value.strip())
        elif lowered == "idempotent-replayed":
            replayed = True
    await reader.readexactly(length)
    # Open loop: latency counts from when the request was due, so a server that falls behind
    # is not flattered by the client waiting for it (coordinated omission).
    due = sent_at if interval is None else max(started + number * interval, 0.0)
    return status, replayed, time.perf_counter() - min(due, sent_at)
