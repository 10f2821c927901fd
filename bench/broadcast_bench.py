"""Plan broadcasts to 1,000,000 customers: rows per second and the planner's memory.

    .venv/bin/python bench/broadcast_bench.py
    .venv/bin/python bench/broadcast_bench.py --customers 200000 --runs 1 --kinds local

Writes demo-like data (bench/broadcast_data.py) into SQLite (a file in a temporary folder,
or `--sqlite PATH` to keep it) and into a scratch database on the PostgreSQL server, created
and dropped here. Then, per database and per kind of broadcast (a plain one; an A/B test of
10 % A / 10 % B whose winner goes to the rest; one at 10:00 in each customer's own zone),
`--runs` times: a fresh process schedules the broadcast and plans it through
`BroadcastPlanner.run_due` (the A/B test twice: the test cells, then, at winner time, the
rest), while this process samples its resident memory (VmRSS) every 100 ms. Printed: rows
planned per second, the peak memory, and beside it a reference measured in the same
process right after: one plain INSERT ... SELECT of as many rows into a copy of the outbox.
For `local`, how the due times spread over the hours of the day (UTC), and the memory at
each tenth of the planning.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue as queue_module
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session

if TYPE_CHECKING:
    from bench import broadcast_data as data
    from bench import broadcast_sends as sends
    from bench.pipeline_bench import scratch_postgres
else:  # beside this script, which runs as a script
    import broadcast_data as data
    import broadcast_sends as sends
    from pipeline_bench import scratch_postgres

from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.timing import plan_start
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.broadcast_winner import pick_winner
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table

SECRET = b"broadcast-bench-secret-of-enough-length"
SAMPLE_SECONDS = 0.1
MEMORY_GOAL_MB = 300
RATE_GOAL = 50_000
HEAD = """\
name: {name}
template: newsletter/newsletter
subject: "{{{{ customer.first_name | default('Hello') }}}}, our December letter"
preheader: Warm things for cold days
content: {{headline: Warm things for cold days}}
"""
KINDS = {
    "plain": 'send_at: "2026-11-23 10:00"\n',
    "ab": 'send_at: "2026-11-23 10:00"\nab_test:\n  variants:\n'
    '    - {name: A, share: 10%}\n    - {name: B, share: 10%, subject: "Only this week"}\n'
    "  winner: {metric: clicks, after: 4 hours}\n",
    "local": 'send_at: {date: 2026-11-24, local: "10:00"}\n',
}


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def plan_part(url: str, name: str, kind: str, results: Any) -> None:
    """In a fresh process: schedule and plan the broadcast, then time the reference insert."""
    database = Database(url)
    source = HEAD.format(name=name) + KINDS[kind]
    picking: list[float] = []
    picker = pick_winner(Settings())

    def pick(session: Session, made: Broadcast, now: datetime) -> tuple[str, str]:
        started = time.perf_counter()
        try:
            return picker(session, made, now)
        finally:
            picking.append(time.perf_counter() - started)

    planner, made = sends.schedule(database, source, f"broadcasts/{name}.yaml", SECRET, pick)
    now = max(plan_start(made, Settings().zone), data.NOW)
    phases: list[tuple[str, float, float]] = []
    for phase in ("test", "rest") if made.winner is not None else ("all",):
        began = time.perf_counter()
        planned = planner.run_due(FrozenClock(now).now)
        phases.append((phase, began, time.perf_counter()))
        assert planned == [name], f"{name} was not planned: see the log"
        if made.winner is not None:
            now = now + made.winner.after + timedelta(minutes=1)
    o = outbox_table.c
    mine = o.workflow == f"broadcast:{name}"
    with database.session() as session:
        found = session.execute(select(o.state, func.count()).where(mine).group_by(o.state))
        states = {str(state): int(count) for state, count in found}
        due = Counter[int]()
        if kind == "local":
            hours = select(o.next_attempt_at, func.count()).where(mine).group_by(o.next_attempt_at)
            for at, count in session.execute(hours):
                due[at.hour] += count
    rows = sum(states.values())
    reference = data.reference(database, rows)
    database.dispose()
    results.put((states, phases, dict(due), reference, sum(picking)))


def measured(function: Callable[..., None], *arguments: Any) -> tuple[Any, list[Sample]]:
    """Run `function(*arguments, queue)` in a fresh process: what it puts in the queue, and
    its resident memory sampled every 100 ms as (perf_counter, MB)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=function, args=(*arguments, queue))
    process.start()
    samples: list[Sample] = []
    while True:
        found = rss_mb(process.pid or 0)
        if found is not None:
            samples.append((time.perf_counter(), found))
        try:
            result = queue.get(timeout=SAMPLE_SECONDS)
            break
        except queue_module.Empty:
            if not process.is_alive():
                raise SystemExit(f"the planning process died ({process.exitcode})") from None
    process.join()
    return result, samples


Sample = tuple[float, float]


def within(samples: list[Sample], began: float, ended: float) -> list[float]:
    return [mb for at, mb in samples if began <= at <= ended] or [0.0]


def run_kind(url: str, label: str, kind: str, run: int) -> tuple[float, float, float]:
    """One planning run, printed; (rows/s, reference rows/s, peak MB while planning)."""
    name = f"bench-{kind}-{run}"
    (states, phases, due, reference, picking), samples = measured(plan_part, url, name, kind)
    rows = sum(states.values())
    began, ended = phases[0][1], phases[-1][2]
    seconds = sum(end - start for _, start, end in phases)
    peak = max(within(samples, began, ended))
    rate, ref_rate = rows / seconds, rows / reference
    parts = ", ".join(f"{phase} {end - start:.1f} s" for phase, start, end in phases)
    parts += f" of which picking the winner {picking:.1f} s" if picking else ""
    print(
        f"{label:<10} {kind:<6} run {run}: {rows:,} rows ({_states(states)}) in {seconds:.1f} s"
        f" ({parts}) = {rate:,.0f} rows/s; reference INSERT ... SELECT {ref_rate:,.0f} rows/s,"
        f" ratio {rate / ref_rate:.2f}; peak RSS {peak:.0f} MB while planning"
        f" ({max(mb for _, mb in samples):.0f} MB with the reference after it);"
        f" load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if kind == "local":
        spread = "  ".join(f"{hour:02d}h {count:,}" for hour, count in sorted(due.items()))
        print(f"    due per hour of UTC: {spread}")
        step = (ended - began) / 10
        tenths = [max(within(samples, began + i * step, began + (i + 1) * step)) for i in range(10)]
        print("    RSS MB per tenth of the planning: " + " ".join(f"{mb:.0f}" for mb in tenths))
    return rate, ref_rate, peak


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {state}" for state, count in sorted(states.items()))


def bench(url: str, label: str, args: argparse.Namespace) -> list[str]:
    database = Database(url)
    database.upgrade()
    seconds = data.fill(database, args.customers)
    if seconds is None:
        print(f"{label}: customers there already, kept")
    else:
        print(f"{label}: wrote {args.customers:,} customers and the rest in {seconds:.1f} s")
    lines = []
    for kind in args.kinds:
        rates, refs, peaks = [], [], []
        for run in range(1, args.runs + 1):
            data.clear_broadcasts(database)
            rate, ref, peak = run_kind(url, label, kind, run)
            rates.append(rate)
            refs.append(ref)
            peaks.append(peak)
        ratio = statistics.median(r / f for r, f in zip(rates, refs, strict=True))
        lines.append(
            f"{label:<10} {kind:<6} median {statistics.median(rates):>8,.0f} rows/s "
            f"({min(rates):,.0f}-{max(rates):,.0f}; goal {RATE_GOAL:,}), reference "
            f"{statistics.median(refs):,.0f} rows/s, ratio {ratio:.2f}; "
            f"peak RSS {max(peaks):.0f} MB (goal <= {MEMORY_GOAL_MB})"
        )
    data.clear_broadcasts(database)
    database.dispose()
    return lines


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--sqlite", help="a SQLite file to use and keep ('' to skip SQLite)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MAILENGINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
        ),
        help="a PostgreSQL server to create a scratch database on ('' to skip)",
    )
    args = parser.parse_args()
    print(f"load average at the start: {load()}")
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        if args.sqlite != "":
            lines += bench(f"sqlite:///{args.sqlite or Path(folder) / 'bench.db'}", "SQLite", args)
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            if url is not None:
                lines += bench(url, "PostgreSQL", args)
    print(f"\nload average at the end: {load()}")
    print("\n".join(lines))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
