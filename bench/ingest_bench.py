"""Event ingestion under load: `POST /v1/events` as a shop's backend sends it, against the real
`mailengine run` (engine and API in one process, as `make run` starts them; with `--workers N`
the API in N processes of its own beside the engine, `http.workers`).

    .venv/bin/python bench/ingest_bench.py
    .venv/bin/python bench/ingest_bench.py --requests 20000 --connections 50 --rate 500
    .venv/bin/python bench/ingest_bench.py --workers 2

A scratch shop (the repository's workflows and templates, 10,000 demo customers, mail into
the capture server) on SQLite in a temporary folder, then on a scratch database of the
PostgreSQL server (created and dropped here). Per database: a run as fast as the answers
come (`--connections` keep-alive connections, each request with its own Idempotency-Key,
5 % sent twice), and a run at a fixed `--rate` (open loop: latency counts from when each
request was due). Printed: requests/s, p50/p90/p99/max, statuses; then, with the engine
stopped, lost (answered 202 but not stored) and duplicated (stored more than once) events.
Loopback only; every run is bounded by `--requests` and `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

if TYPE_CHECKING or __package__:
    from bench.ingest_load import Load, Outcome, run_load
    from bench.pipeline_bench import scratch_postgres
else:  # beside this script, which runs as a script
    from ingest_load import Load, Outcome, run_load
    from pipeline_bench import scratch_postgres

REPO = Path(__file__).resolve().parents[1]
MAILENGINE = Path(sys.executable).with_name("mailengine")
API_KEY = "ingest-bench-key-" + "x" * 24
CUSTOMERS = 10_000
# Orders sent at the rate before the measured run of `--orders-at-rate-only`: the first second
# after start-up compiles the engine's statements (one round took 92 ms of CPU), which a
# server that has run for a while has done.
WARM_UP_ORDERS = 1_000
BATCH_SIZE = 1_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_shop(folder: Path, url: str, extra: str, workers: int = 0) -> tuple[Path, int]:
    """The shop folder and its HTTP port."""
    for name in ("workflows", "templates", "broadcasts"):
        shutil.copytree(REPO / name, folder / name)
    port = free_port()
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    (folder / "config.yaml").write_text(
        f"database: {{url: '{url}'}}\n"
        f"smtp: {{host: 127.0.0.1, port: {free_port()}, capture: true}}\n"
        f"http: {{host: 127.0.0.1, port: {port}, public_url: 'http://127.0.0.1:{port}',"
        f" api_keys: ['{digest}'], docs: false, workers: {workers}}}\n"
        f"inbound: {{smtp: {{port: {free_port()}}}}}\n"
        "studio: {enabled: false}\n" + extra,
        encoding="utf-8",
    )
    return folder, port


ENVIRONMENT = {**os.environ, "MAILENGINE_SECRET_KEY": "ingest-bench-secret-" + "s" * 32}


def cli(folder: Path, *args: str) -> None:
    done = subprocess.run(
        [str(MAILENGINE), *args], cwd=folder, capture_output=True, text=True, env=ENVIRONMENT
    )
    if done.returncode != 0:
        raise SystemExit(f"mailengine {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def start(folder: Path, port: int) -> subprocess.Popen[bytes]:
    log = (folder / "run.log").open("wb")
    process = subprocess.Popen(
        [str(MAILENGINE), "run"], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
        env=ENVIRONMENT,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    ran = (folder / "run.log").read_text(encoding="utf-8", errors="replace")
    raise SystemExit(f"mailengine run did not answer; the end of its log:\n{ran[-3000:]}")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `mailengine run` and its live descendants
    (the HTTP workers): what the machine spends on the requests, whatever else runs on it."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    family, growing = {pid}, True
    while growing:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        growing = bool(more)
    return sum(times.get(member, 0.0) for member in family)


def wait_until_idle(pid: int, most: float = 180.0) -> float:
    """Seconds waited until the server used under 5 % of a CPU for a second: each run starts
    on a server that has finished the work of the one before (the confirmations of 10,000
    orders take it a while), so that a run is not measured against another's backlog."""
    started = time.monotonic()
    while time.monotonic() - started < most:
        before = server_cpu(pid)
        time.sleep(1.0)
        if server_cpu(pid) - before < 0.05:
            break
    return time.monotonic() - started - 1.0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def reference(args: argparse.Namespace) -> float:
    """Requests/s of the reference server (`ingest_reference.py`) under the same load."""
    port = free_port()
    server = subprocess.Popen(
        [str(MAILENGINE.with_name("uvicorn")), "--app-dir", str(REPO / "bench"),
         "ingest_reference:app", "--port", str(port), "--http", "httptools",
         "--log-level", "warning", "--no-access-log"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        load = Load("127.0.0.1", port, "/v1/events", API_KEY, args.requests, args.connections,
                    event_body, time_limit=args.seconds)  # fmt: skip
        outcome = asyncio.run(run_load(load))
    finally:
        stop(server)
    print_outcome("reference (FastAPI, stores nothing)", outcome)
    return len(outcome.latencies) / outcome.seconds


def event_body(number: int) -> dict[str, Any]:
    customer = random.Random(number).randrange(CUSTOMERS)
    return {
        "type": "product.viewed",
        "email": f"bench{customer}@example.org",
        "data": {"sku": f"SKU-{number % 500}", "price": 19.9, "source": "load bench"},
    }


def order_body(number: int) -> dict[str, Any]:
    customer = random.Random(number).randrange(CUSTOMERS)
    return {
        "external_id": f"LOAD-{number}",
        "email": f"bench{customer}@example.org",
        "amount": "49.90",
        "placed_at": "2026-11-20T10:00:00+01:00",
        "items": [{"sku": f"SKU-{number % 500}", "name": "Wool socks", "quantity": 2,
                   "unit_price": "24.95"}],
    }  # fmt: skip


def batch_body(number: int) -> dict[str, Any]:
    return {"events": [event_body(number * BATCH_SIZE + item) for item in range(BATCH_SIZE)]}


def print_outcome(
    label: str, outcome: Outcome, reference: float | None = None, cpu: float | None = None
) -> None:
    answered = len(outcome.latencies)
    per_second = answered / outcome.seconds if outcome.seconds else 0.0
    ms = [1000 * outcome.percentile(share) for share in (0.5, 0.9, 0.99, 1.0)]
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(outcome.statuses.items()))
    print(
        f"{label:<34} {answered:>7,} in {outcome.seconds:5.1f} s = {per_second:7,.0f} req/s;"
        f" p50 {ms[0]:6.1f} ms, p90 {ms[1]:6.1f}, p99 {ms[2]:6.1f}, max {ms[3]:7.1f};"
        f" {statuses}; replayed {outcome.replayed}; connection errors {outcome.errors}"
        + (f"; {per_second / reference:.2f}x the reference" if reference else "")
        + (f"; server CPU {1000 * cpu / answered:.2f} ms/request" if cpu and answered else ""),
        flush=True,
    )


def check_stored(url: str, accepted: set[str]) -> tuple[int, int]:
    """(lost, duplicated): accepted keys not stored, and keys stored more than once."""
    client = hashlib.sha256(API_KEY.encode()).hexdigest()[:16]
    prefix = f"event:{client}:"
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT idempotency_key, count(*) FROM event WHERE idempotency_key LIKE :p "
                "GROUP BY idempotency_key"
            ),
            {"p": prefix + "%"},
        ).all()
    engine.dispose()
    stored = {str(key)[len(prefix) :]: int(count) for key, count in rows}
    lost = sum(1 for key in accepted if key not in stored)
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    return lost, duplicated


def bench(label: str, url: str, folder: Path, args: argparse.Namespace, reference: float) -> None:
    shop, port = make_shop(folder, url, args.config, args.workers)
    cli(shop, "db", "upgrade")
    cli(shop, "demo-data", "--customers", str(CUSTOMERS), "--seed", "1")
    with create_engine(url).begin() as connection:  # addresses the bench can name
        connection.execute(text("UPDATE customer SET email = 'bench' || id || '@example.org'"))
    process = start(shop, port)
    accepted: set[str] = set()
    orders: set[str] = set()

    cpu_used = 0.0

    def load(path: str, body: Any, requests: int, connections: int, rate: float | None) -> Outcome:
        nonlocal cpu_used
        waited = wait_until_idle(process.pid)
        if waited >= 1.0:
            print(f"  (waited {waited:.0f} s for the server to finish the last run's work)")
        before = server_cpu(process.pid)
        client_before = time.process_time()
        outcome = asyncio.run(run_load(Load(
            "127.0.0.1", port, path, API_KEY, requests, connections, body, rate=rate,
            time_limit=args.seconds,
        )))  # fmt: skip
        time.sleep(1.0)  # the engine's work on what was just stored counts too
        cpu_used = server_cpu(process.pid) - before
        client_used = (time.process_time() - client_before) / max(1, outcome.sent)
        print(f"  load client CPU {1000 * client_used:.2f} ms/request;"
              f" load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        return outcome

    try:
        for name, rate in (
            ("as fast as answered", None),
            (f"at {args.rate:,.0f} req/s", args.rate),
        ):
            if args.orders_at_rate_only:
                break
            outcome = load("/v1/events", event_body, args.requests, args.connections, rate)
            accepted |= outcome.accepted
            print_outcome(f"{label}, events {name}", outcome, reference, cpu_used)
        if not args.events_only:
            half = args.requests // 2
            if not args.orders_at_rate_only:
                outcome = load("/v1/orders", order_body, half, args.connections, None)
                orders |= outcome.accepted
                print_outcome(f"{label}, orders as fast as answered", outcome, reference, cpu_used)

            def later_order(number: int) -> dict[str, Any]:
                return order_body(half + number)  # new orders, not updates of the first run's

            if args.orders_at_rate_only:  # warmed up first, as a running server is

                def warm_up_order(number: int) -> dict[str, Any]:
                    return order_body(2 * half + number)

                rate = args.rate
                warm = load("/v1/orders", warm_up_order, WARM_UP_ORDERS, args.connections, rate)
                orders |= warm.accepted
            outcome = load("/v1/orders", later_order, half, args.connections, args.rate)
            orders |= outcome.accepted
            rated = f"{label}, orders at {args.rate:,.0f} req/s"
            print_outcome(rated, outcome, reference, cpu_used)
            if not args.orders_at_rate_only:
                batches = max(1, args.batch_events // BATCH_SIZE)
                outcome = load("/v1/events:batch", batch_body, batches, 4, None)
                events_per_second = len(outcome.latencies) * BATCH_SIZE / outcome.seconds
                print_outcome(f"{label}, batches of {BATCH_SIZE:,} events", outcome, cpu=cpu_used)
                print(f"{label}, batches: {events_per_second:,.0f} events/s", flush=True)
    finally:
        stop(process)
    lost, duplicated = check_stored(url, accepted)
    print(f"{label}: {len(accepted):,} events accepted; lost {lost}, duplicated {duplicated}")
    if not args.events_only:
        stored = count_orders(url)
        print(f"{label}: {len(orders):,} orders accepted, {stored:,} stored", flush=True)


def count_orders(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM orders WHERE external_id LIKE 'LOAD-%'")
        ).scalar_one()
    engine.dispose()
    return int(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="each run's time limit")
    parser.add_argument("--config", default="", help="more config.yaml lines for the shop")
    parser.add_argument(
        "--workers", type=int, default=0, help="http.workers of the shop (0: in the engine)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MAILENGINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
        ),
        help="admin URL of the PostgreSQL server ('' to skip PostgreSQL)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--batch-events", type=int, default=50_000, help="events sent in batches")
    parser.add_argument(
        "--orders-at-rate-only", action="store_true",
        help="only the run of new orders at --rate (of --requests / 2 orders), after 1,000",
    )  # fmt: skip
    parser.add_argument(
        "--events-only", action="store_true",
        help="only the single-event runs, without the reference server's",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    against = 0.0 if args.events_only else reference(args)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as scratch:
        if not args.skip_sqlite:
            folder = Path(scratch) / "sqlite"
            bench("SQLite", f"sqlite:///{folder / 'var' / 'shop.db'}", folder, args, against)
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                if url is not None:
                    bench("PostgreSQL", url, Path(scratch) / "postgresql", args, against)
    if not args.events_only:
        reference(args)  # again: how much the machine's load moved during the run
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("command: python bench/ingest_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
