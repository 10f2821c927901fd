"""The batch endpoints alone: `POST /v1/events:batch` (or `/v1/orders:batch`) through the app
in this process, without the engine, on SQLite and on a scratch PostgreSQL database.

    .venv/bin/python bench/batch_bench.py
    .venv/bin/python bench/batch_bench.py --orders --batches 10 --postgres ''

What the API itself does with a batch (checking each item, the group commit, storing,
answering), apart from the engine that shares `mailengine run`'s process and cores
(`ingest_bench.py` measures both together). The app is called through httpx's ASGI
transport by `--connections` concurrent clients, each batch of 1,000 items with its own
Idempotency-Key, for customers that exist (10,000). Printed: items/s per database, and the
load average. `--profile FILE` writes a cProfile of the requests (the writer thread's work
is not in it: run under `py-spy record --gil` for both).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.store.customers import ensure_customers
from mailengine.store.database import Database
from mailengine.web.api_keys import hash_api_key
from mailengine.web.app import create_app

if TYPE_CHECKING or __package__:
    from bench.pipeline_bench import POSTGRES_ADMIN_URL, scratch_postgres
else:  # beside this script, which runs as a script
    from pipeline_bench import POSTGRES_ADMIN_URL, scratch_postgres

API_KEY = "batch-bench-key-" + "x" * 24
CUSTOMERS = 10_000
BATCH_SIZE = 1_000


def events(number: int) -> dict[str, Any]:
    chosen = random.Random(number)
    return {
        "events": [
            {"type": "product.viewed", "email": f"bench{chosen.randrange(CUSTOMERS)}@example.org",
             "data": {"sku": f"SKU-{item % 500}", "price": 19.9, "source": "load bench"}}
            for item in range(BATCH_SIZE)
        ]
    }  # fmt: skip


def orders(number: int) -> dict[str, Any]:
    chosen = random.Random(number)
    return {
        "orders": [
            {"external_id": f"LOAD-{number}-{item}", "amount": "49.90",
             "email": f"bench{chosen.randrange(CUSTOMERS)}@example.org",
             "placed_at": "2026-11-20T10:00:00+01:00",
             "items": [{"sku": f"SKU-{item % 500}", "name": "Wool socks", "quantity": 2,
                        "unit_price": "24.95"}]}
            for item in range(BATCH_SIZE)
        ]
    }  # fmt: skip


async def measure(url: str, args: argparse.Namespace) -> float:
    """Items/s over `args.batches` batches (after one to warm up)."""
    database = Database(url)
    database.upgrade()
    with database.transaction() as session:
        emails = [f"bench{number}@example.org" for number in range(CUSTOMERS)]
        ensure_customers(session, emails, datetime.now(UTC))
    app = create_app(Settings(), database, api_key_hashes=[hash_api_key(API_KEY)],
                     secret=b"batch-bench-secret-" + b"s" * 24, clock=SystemClock())  # fmt: skip
    path, make = ("/v1/orders:batch", orders) if args.orders else ("/v1/events:batch", events)
    bodies = [json.dumps(make(number)).encode() for number in range(args.batches + 1)]
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def post(number: int) -> None:
            keyed = {**headers, "Idempotency-Key": f"batch-{number}"}
            answer = await client.post(path, content=bodies[number], headers=keyed)
            if answer.status_code != 200:
                raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")

        await post(0)
        waiting = list(range(args.batches, 0, -1))

        async def connection() -> None:
            while waiting:
                await post(waiting.pop())

        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(args.connections)))
        seconds = time.perf_counter() - started
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
    database.dispose()
    items: int = args.batches * BATCH_SIZE
    return items / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--orders", action="store_true", help="orders:batch instead of events")
    parser.add_argument("--profile", help="write a cProfile of the requests here")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, help="'' skips PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    kind = "orders" if args.orders else "events"
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
            rate = asyncio.run(measure(f"sqlite:///{scratch}/shop.db", args))
            print(f"SQLite: {rate:,.0f} {kind}/s", flush=True)
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            if url is not None:
                print(f"PostgreSQL: {asyncio.run(measure(url, args)):,.0f} {kind}/s", flush=True)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("command: python bench/batch_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
