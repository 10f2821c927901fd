"""Faults a shop's mail must live through, reproduced against real `mailengine run` processes.

    .venv/bin/python bench/faults.py [--quick] [--messages N] [--scenario NAME] [--set K=V]

Scenarios, each printed as one table row:

  kill       kill -9 three times while N mails go out (SQLite), restarting at once each time
  four       four engines on one PostgreSQL database share N mails
  peers      a peer on 127.0.0.1 misbehaving towards a tenth of N/10 recipients (their own
             domain): 421 at the greeting, 450, 451, 550, 552, a connection dropped after
             DATA, a stall after DATA; a temporary fault hits each one's first attempt
             (stalls and greeting refusals only in the first 20 s)
  outage     PostgreSQL cuts the engine's connections and refuses new ones for 10 s mid-send

Columns: expected = what should arrive (5xx answers are expected failures, not lost);
received = messages the peer accepted (250); unique = distinct (recipient, Message-ID);
lost = expected recipients that never arrived with their Message-ID; duplicates = received
minus unique; resume delay = from each restart (kill) or the database's return (outage) to
the next message received; took = from the first engine's start to the end of waiting.
PostgreSQL scenarios create a database of their own and drop it; where no server is
reachable they are skipped with the reason. Settings are time-scaled (bench/fault_shop.py's
TIME_SCALED, and --set) where this version knows them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

if not __package__:  # run as `python bench/faults.py`: its pieces are under bench/ and tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fault_scenarios import (
    Row,
    Run,
    database_outage_mid_send,
    four_dispatchers,
    kill_three_times,
    peers,
)
from bench.fault_shop import (
    TIME_SCALED,
    describe_dispatch,
    engine_dispatch,
    scaled_settings,
)

Scenario = Callable[[Run], Awaitable[Row | list[Row] | str]]
SCENARIOS: dict[str, Scenario] = {
    "kill": kill_three_times,
    "four": four_dispatchers,
    "peers": peers,
    "outage": database_outage_mid_send,
}
HEADERS = (
    "scenario", "expected", "received", "unique", "lost", "duplicates", "resume delay (s)",
    "took (s)",
)  # fmt: skip


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/faults.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="default 10000 (--quick 1000)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--quick", action="store_true", help="a small run: 1000 messages")
    parser.add_argument(
        "--patience",
        type=float,
        default=180.0,
        help="the longest a scenario waits with nothing arriving before it counts what is "
        "missing as lost (it waits less when the engine's lease or retry is shorter)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another setting for the engines, e.g. smtp.timeout_seconds=5 (only if known)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scenario folders")
    return parser.parse_args()


def _settings(pairs: list[str]) -> tuple[dict[str, str], list[str]]:
    wanted: dict[str, object] = dict(TIME_SCALED)
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set {pair}: write KEY=VALUE, e.g. smtp.timeout_seconds=5")
        wanted[key.strip()] = value.strip()
    return scaled_settings(wanted)


def format_table(rows: list[Row]) -> str:
    lines = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[n]) for line in lines) for n in range(len(HEADERS))]
    out = []
    for number, line in enumerate(lines):
        first, rest = line[0].ljust(widths[0]), line[1:]
        out.append("  ".join([first, *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]))
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _cells(row: Row) -> tuple[str, ...]:
    resume = (
        ", ".join("never" if delay is None else f"{delay:.1f}" for delay in row.resume)
        if row.resume
        else "-"
    )
    numbers = (row.expected, row.received, row.unique, row.lost, row.duplicates)
    return (row.scenario, *(f"{n:,}" for n in numbers), resume, f"{row.took:.0f}")


async def run_all(run: Run, names: list[str]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    skipped: list[str] = []
    for name in names:
        started = time.monotonic()
        print(f"{name}: running ...", flush=True)
        try:
            result = await SCENARIOS[name](run)
        except Exception as error:  # one scenario failing to run does not stop the others
            skipped.append(f"{name}: could not run: {error}")
            print(skipped[-1], flush=True)
            continue
        if isinstance(result, str):
            skipped.append(f"{name}: skipped: {result}")
        else:
            found = result if isinstance(result, list) else [result]
            rows.extend(found)
            for row in found:
                print(format_table([row]).splitlines()[-1], flush=True)
        print(f"{name}: {time.monotonic() - started:.0f} s", flush=True)
    return rows, skipped


def main() -> None:
    args = _arguments()
    messages = args.messages or (1000 if args.quick else 10_000)
    variables, left_out = _settings(args.settings)
    names = args.scenario or list(SCENARIOS)
    folder = Path(tempfile.mkdtemp(prefix="mailengine-faults-"))
    run = Run(folder, messages, variables, args.patience)
    print(f"settings: {', '.join(f'{k}={v}' for k, v in sorted(variables.items())) or 'none'}")
    if left_out:
        print(f"not set: {'; '.join(left_out)}")
    print(f"the engine's dispatcher: {describe_dispatch(engine_dispatch(variables))}")
    print(f"{messages:,} messages; {os.cpu_count()} CPUs; folders under {folder}", flush=True)
    rows, skipped = asyncio.run(run_all(run, names))
    print(f"\n{format_table(rows)}")
    for row in rows:
        for note in row.notes:
            print(f"  {row.scenario}: {note}")
    for line in skipped:
        print(f"  {line}")
    print(f"command: {' '.join([Path(sys.executable).name, 'bench/faults.py', *sys.argv[1:]])}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
