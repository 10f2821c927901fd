"""A dispatcher in a process of its own, for tests that kill it or run several side by side.

    python -m tests.delivery.dispatch_worker DATABASE_URL SMTP_PORT TEMPLATES_DIR [options]

It sends over a pooled SMTP transport to 127.0.0.1:SMTP_PORT and, when it stops, prints one
JSON line: what its dispatcher did and how many SMTP connections it opened.

Its clock starts at a fixed instant (`--start-at`) and runs with the machine's monotonic clock
from a shared origin (`--origin`, a `time.monotonic()` reading of the test): every worker of
a test tells the same time, leases run out in real seconds, and no date is read. With
`--ready-file` and `--go-file` it says when it is set up and waits for the word to begin, so
that workers started one after another on a busy machine all take part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from mailengine.clock import ensure_aware
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions, DispatchReport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.database import Database
from mailengine.store.outbox import pending_count
from tests.conftest import NOW
from tests.delivery.conftest import SECRET

GO_DEADLINE_SECONDS = 600.0
"""A worker told to wait for the go file gives up after this long (its test has failed)."""


class SteadyClock:
    """`start` at monotonic time `origin`, moving on in step with the monotonic clock."""

    def __init__(self, start: datetime, origin: float) -> None:
        self.start = ensure_aware(start)
        self.origin = origin

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.delivery.dispatch_worker")
    parser.add_argument("database_url")
    parser.add_argument("port", type=int)
    parser.add_argument("templates", type=Path)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lease-seconds", type=float, default=600.0)
    parser.add_argument(
        "--per-domain-connections",
        type=int,
        default=None,
        help="connections one recipient domain may hold (default: the dispatcher's share)",
    )
    parser.add_argument(
        "--until",
        choices=["idle", "all-final"],
        default="idle",
        help="idle: stop when nothing can be claimed; all-final: also wait for rows another "
        "dispatcher holds in 'sending' (taken up at once if it died on this host, else when "
        "their lease runs out), until no row is pending",
    )
    parser.add_argument("--deadline-seconds", type=float, default=600.0)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--start-at", type=datetime.fromisoformat, default=NOW)
    parser.add_argument("--origin", type=float, default=None, help="default: when it starts")
    parser.add_argument("--ready-file", type=Path, default=None)
    parser.add_argument("--go-file", type=Path, default=None)
    return parser.parse_args(argv)


async def _wait_for_the_word(ready: Path | None, go: Path | None) -> None:
    if ready is not None:
        await asyncio.to_thread(ready.touch)
    deadline = time.monotonic() + GO_DEADLINE_SECONDS
    while go is not None and not await asyncio.to_thread(go.exists):
        if time.monotonic() > deadline:
            raise SystemExit(f"{go} did not appear within {GO_DEADLINE_SECONDS:.0f} s")
        await asyncio.sleep(0.01)


async def run(args: argparse.Namespace) -> tuple[DispatchReport, int]:
    """Drain the outbox as asked; returns the dispatcher's report and connections opened."""
    database = Database(args.database_url)
    library = TemplateLibrary(args.templates)
    library.preload()
    transport = SmtpTransport(
        SmtpOptions(
            port=args.port,
            connections=args.connections,
            timeouts=SmtpTimeouts().capped(30),
            local_hostname="worker.test",
        )
    )
    dispatcher = Dispatcher(
        database,
        transport,
        Composer(Settings(), library, SECRET),
        SteadyClock(args.start_at, time.monotonic() if args.origin is None else args.origin),
        options=DispatchOptions(
            batch_size=args.batch_size,
            lease=timedelta(seconds=args.lease_seconds),
            per_domain_connections=args.per_domain_connections,
        ),
        worker_id=args.worker_id,
    )
    try:
        await _wait_for_the_word(args.ready_file, args.go_file)
        deadline = time.monotonic() + args.deadline_seconds
        while True:
            await dispatcher.drain()
            if args.until == "idle" or await asyncio.to_thread(_pending, database) == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"rows still pending after {args.deadline_seconds} s")
            await asyncio.sleep(0.1)
    finally:
        await transport.aclose()
        database.dispose()
    return dispatcher.report, transport.connections_opened


def _pending(database: Database) -> int:
    with database.session() as session:
        return pending_count(session)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    report, connections = asyncio.run(run(args))
    print(json.dumps({**vars(report), "connections": connections}), flush=True)


if __name__ == "__main__":
    main()
