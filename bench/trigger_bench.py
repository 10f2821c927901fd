"""Event triggers under load: how soon an order's confirmation leaves, and how fast a burst of
orders becomes enrollments and planned confirmations, against the real `mailengine run`.

    .venv/bin/python bench/trigger_bench.py
    .venv/bin/python bench/trigger_bench.py --rate 500 --seconds 20 --burst 50000

A scratch shop as `ingest_bench.py` makes it (the repository's workflows, 10,000 demo
customers, mail into the capture folder), on SQLite (and on PostgreSQL with `--postgres URL`);
`--dispatch-processes N` sets the engine's `engine.dispatch_processes`. Once the engine has
worked off the demo data's events and mail, `POST /v1/orders` at `--rate` orders/s for
`--seconds`: for each order, the time from its event being stored to its confirmation
(thank-you's first send) being planned, and being sent; printed as p50/p90/p99/max. Then a
burst of `--burst` orders through `POST /v1/orders:batch` (1,000 a request): the time until
every `order.placed` event was processed and every confirmation planned into the outbox.
Loopback only; bounded by `--limit` seconds per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

if TYPE_CHECKING or __package__:
    from bench.ingest_bench import (
        API_KEY,
        CUSTOMERS,
        cli,
        make_shop,
        order_body,
        server_cpu,
        start,
        stop,
    )
    from bench.ingest_load import Load, run_load
    from bench.pipeline_bench import scratch_postgres
else:  # beside this script, which runs as a script
    from ingest_bench import API_KEY, CUSTOMERS, cli, make_shop, order_body, server_cpu, start, stop
    from ingest_load import Load, run_load
    from pipeline_bench import scratch_postgres

BATCH_SIZE = 1_000
CAPTURE = """
import asyncio, sys
from pathlib import Path
from mailengine.dev.capture import CaptureServer

async def serve() -> None:
    server = CaptureServer(Path(sys.argv[1]), port=int(sys.argv[2]))
    await server.start()
    print("listening", flush=True)
    await asyncio.Event().wait()

asyncio.run(serve())
"""


def burst_body(number: int) -> dict[str, Any]:
    orders = [order_body(number * BATCH_SIZE + item) for item in range(BATCH_SIZE)]
    for order in orders:
        order["external_id"] = "BURST-" + order["external_id"]
    return {"orders": orders}


@dataclass
class Confirmations:
    """Of the orders whose id starts with a prefix: order.placed events processed, and the
    seconds from each event being stored to its confirmation being planned, and sent."""

    processed: int
    planned: list[float]
    sent: list[float]
    waited: list[float] = field(default_factory=list)  # planned -> claimed (in the outbox)
    sending: list[float] = field(default_factory=list)  # claimed -> sent (in a dispatcher)
    span: list[datetime] = field(default_factory=list)  # the first claim, the last send
    # The order whose event was stored first: seconds from its event to its confirmation
    # being sent (None: not sent yet).
    first: float | None = None
    first_received: datetime | None = None

    @property
    def sent_per_second(self) -> float:
        """Confirmations sent per second, from the first claim to the last send."""
        seconds = (self.span[1] - self.span[0]).total_seconds() if self.span else 0.0
        return len(self.sent) / seconds if seconds > 0 else 0.0


def confirmations(url: str, prefix: str) -> Confirmations:
    engine = create_engine(url)
    with engine.connect() as connection:
        events = {
            int(event_id): (processed, received)
            for event_id, processed, received in connection.execute(
                text(
                    "SELECT id, id NOT IN (SELECT event_id FROM event_pending), received_at"
                    " FROM event WHERE type = 'order.placed'"
                    " AND idempotency_key LIKE :key"
                ),
                {"key": f"order.placed:{prefix}%"},
            )
        }
        rows = connection.execute(
            text(
                "SELECT idempotency_key, created_at, claimed_at, sent_at FROM outbox"
                " WHERE workflow = 'thank-you' AND idempotency_key LIKE '%:event:%'"
            )
        ).all()
    engine.dispose()
    found = Confirmations(sum(1 for done, _ in events.values() if done), [], [])
    for key, created_at, claimed_at, sent_at in rows:
        event = events.get(int(str(key).rsplit(":", 1)[1]))
        if event is None:
            continue
        received = _moment(event[1])
        found.planned.append((_moment(created_at) - received).total_seconds())
        first = found.first_received is None or received < found.first_received
        if first:
            found.first_received, found.first = received, None
        if sent_at is not None:
            found.sent.append((_moment(sent_at) - received).total_seconds())
            if first:
                found.first = found.sent[-1]
            claimed, sent = _moment(claimed_at), _moment(sent_at)
            found.waited.append((claimed - _moment(created_at)).total_seconds())
            found.sending.append((sent - claimed).total_seconds())
            found.span = [min([claimed, *found.span[:1]]), max([sent, *found.span[1:]])]
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(url: str, limit: float) -> float:
    """Wait (up to `limit` s) until the engine has worked every stored event and sent every
    planned message (the demo data's, at the start); returns the seconds waited."""
    engine = create_engine(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            with engine.connect() as connection:
                busy = connection.execute(
                    text(
                        "SELECT (SELECT count(*) FROM event_pending)"
                        " + (SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending'))"
                    )
                ).scalar_one()
            if not busy:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    return time.monotonic() - started


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "none sent"
    pick = [ordered[min(len(ordered) - 1, int(share * len(ordered)))] for share in (0.5, 0.9, 0.99)]
    return f"p50 {pick[0]:.2f} s, p90 {pick[1]:.2f} s, p99 {pick[2]:.2f} s, max {ordered[-1]:.2f} s"


def bench(label: str, url: str, folder: Path, args: argparse.Namespace) -> None:
    extra = f"engine: {{dispatch_processes: {args.dispatch_processes}}}\n"
    shop, port = make_shop(folder, url, extra)
    smtp = f"capture: {'true' if args.capture == 'engine' else 'false'}"
    if args.connections:
        smtp += f", connections: {args.connections}"
    config = shop / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("capture: true", smtp), encoding="utf-8"
    )
    with capture_server(shop, args.capture == "process") as sink:
        run_phases(label, url, shop, port, args, sink)


@contextmanager
def capture_server(shop: Path, separate: bool) -> Iterator[int | None]:
    """With `separate`, the capture SMTP server of the shop's config in a process of its own
    (as a real mail server would be), not on the engine's event loop beside the API."""
    if not separate:
        yield None
        return
    found = re.search(r"port: (\d+), capture", (shop / "config.yaml").read_text())
    assert found is not None
    smtp_port = found.group(1)
    server = subprocess.Popen(
        [sys.executable, "-c", CAPTURE, str(shop / "var" / "mail"), smtp_port],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # listening
        yield server.pid
    finally:
        server.terminate()
        server.wait()


def run_phases(
    label: str, url: str, shop: Path, port: int, args: argparse.Namespace, sink: int | None
) -> None:
    cli(shop, "db", "upgrade")
    cli(shop, "demo-data", "--customers", str(CUSTOMERS), "--seed", "1")
    with create_engine(url).begin() as connection:
        connection.execute(text("UPDATE customer SET email = 'bench' || id || '@example.org'"))
    process = start(shop, port)
    try:
        waited = settle(url, args.limit)
        print(f"{label}: the demo data's events and mail worked off in {waited:.1f} s", flush=True)
        steady = int(args.rate * args.seconds)
        engine_cpu, sink_cpu = server_cpu(process.pid), server_cpu(sink) if sink else 0.0
        own_cpu = process_cpu(process.pid)
        load = Load("127.0.0.1", port, "/v1/orders", API_KEY, steady, 50, order_body,
                    rate=args.rate, retry_share=0.0, time_limit=args.seconds * 3)  # fmt: skip
        began = time.monotonic()
        outcome = asyncio.run(run_load(load))
        took = time.monotonic() - began
        print(
            f"{label}: {len(outcome.latencies):,} orders offered at {args.rate:,.0f}/s answered "
            f"in {took:.1f} s ({len(outcome.latencies) / took:,.0f}/s)",
            flush=True,
        )
        deadline = time.monotonic() + args.limit
        while time.monotonic() < deadline:
            steady_run = confirmations(url, "LOAD-")
            if len(steady_run.sent) >= len(outcome.accepted):
                break
            time.sleep(1)
        engine_cpu = server_cpu(process.pid) - engine_cpu
        own_cpu = process_cpu(process.pid) - own_cpu
        sink_cpu = (server_cpu(sink) - sink_cpu) if sink else 0.0
        sent = max(1, len(steady_run.sent))
        first = "not sent" if steady_run.first is None else f"{steady_run.first:.2f} s"
        print(
            f"{label}: FIRST confirmation, event stored to sent: {first} (goal 2 s)\n"
            f"{label}: CPU from the first order to the last confirmation sent: engine "
            f"{engine_cpu:.1f} s (its own process {own_cpu:.1f} s, its child processes "
            f"{engine_cpu - own_cpu:.1f} s: {1e3 * (engine_cpu - own_cpu) / sent:.2f} ms a "
            f"confirmation), capture server {sink_cpu:.1f} s ({1e3 * sink_cpu / sent:.2f} ms a "
            "message)\n"
            f"{label}: event to confirmation planned, {len(steady_run.planned):,} orders: "
            f"{percentiles(steady_run.planned)}\n"
            f"{label}: event to confirmation sent, {len(steady_run.sent):,} orders: "
            f"{percentiles(steady_run.sent)}\n"
            f"{label}:   of which planned to claimed: {percentiles(steady_run.waited)}\n"
            f"{label}:   and claimed to sent: {percentiles(steady_run.sending)}\n"
            f"{label}: sending rate {steady_run.sent_per_second:,.0f} confirmations/s "
            f"(first claim to last sent) while orders came at {args.rate:,.0f}/s",
            flush=True,
        )
        batches = max(1, args.burst // BATCH_SIZE)
        started = time.monotonic()
        load = Load("127.0.0.1", port, "/v1/orders:batch", API_KEY, batches, 4, burst_body,
                    retry_share=0.0, time_limit=args.limit)  # fmt: skip
        asyncio.run(run_load(load))
        answered = time.monotonic() - started
        total = batches * BATCH_SIZE
        processed = planned = 0
        burst = Confirmations(0, [], [])
        while time.monotonic() - started < args.limit:
            burst = confirmations(url, "BURST-")
            processed, planned = burst.processed, len(burst.planned)
            if processed >= total and planned >= total:
                break
            time.sleep(1)
        print(
            f"{label}: burst of {total:,} orders answered in {answered:.1f} s; "
            f"{processed:,} events processed and {planned:,} confirmations planned "
            f"{time.monotonic() - started:.1f} s after the first was sent "
            f"(event to confirmation planned: {percentiles(burst.planned)})",
            flush=True,
        )
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="orders/s of the steady run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady run")
    parser.add_argument("--burst", type=int, default=50_000, help="orders in the burst")
    parser.add_argument("--limit", type=float, default=300.0, help="each phase's time limit")
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server too")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="only PostgreSQL (with --postgres)"
    )
    parser.add_argument(
        "--dispatch-processes", type=int, default=0, help="the engine's engine.dispatch_processes"
    )
    parser.add_argument(
        "--capture",
        choices=("process", "engine"),
        default="process",
        help="the capture SMTP server in a process of its own, or in the engine's (as before)",
    )
    parser.add_argument(
        "--connections", type=int, default=0, help="smtp.connections (0: the default)"
    )
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="trigger-bench-") as scratch:
        folder = Path(scratch) / "sqlite"
        if not args.no_sqlite:
            bench("SQLite", f"sqlite:///{folder / 'var' / 'shop.db'}", folder, args)
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                if url is not None:
                    bench("PostgreSQL", url, Path(scratch) / "postgresql", args)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("command: python bench/trigger_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
