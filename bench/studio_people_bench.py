"""Time the studio's customer search and audience figures on the demo shop.

Loads `--customers` demo customers with their orders into a SQLite file (once; kept for the
next run), then times each search (best of 5) and each shipped audience's figures as the
Audiences page measures them: count, 20 sample customers and the SQL (best of 3).

    .venv/bin/python bench/studio_people_bench.py --customers 100000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from mailengine.config import Settings
from mailengine.dev import demo
from mailengine.store.customer_directory import MatchMode, find_customers
from mailengine.store.database import Database
from mailengine.studio.audience_trial import audience_context, current_workflows, measure_audience

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
SEARCHES: tuple[tuple[str, MatchMode], ...] = (
    ("anna.m", "start"),
    ("müll", "start"),
    ("anna mü", "start"),
    ("a", "start"),
    ("qqq", "start"),
    ("üller", "contains"),
    ("qqq", "contains"),
)
T = TypeVar("T")


def best(work: Callable[[], T], runs: int) -> tuple[float, T]:
    timings, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - started)
    assert result is not None
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=Path("var"))
    options = parser.parse_args()
    path = options.folder / f"studio-bench-{options.customers}.db"
    database = Database(f"sqlite:///{path}")
    if database.current_revision() is None:
        database.upgrade()
        started = time.perf_counter()
        demo.load(database, options.customers, seed=3, now=NOW)
        print(
            f"loaded {options.customers:,} demo customers in {time.perf_counter() - started:.0f} s"
        )
    with database.session() as session:
        for text, mode in SEARCHES:
            seconds, page = best(partial(find_customers, session, text, mode), 5)
            shown = len(page.customers)
            print(f"search {text!r} ({mode}): {seconds * 1000:.1f} ms, {shown} on the first page")
    workflows = current_workflows(Path("workflows")).workflows
    context = audience_context(Settings(), NOW)
    for name in sorted(workflows):
        measure = partial(measure_audience, database, workflows[name], context, 60)
        seconds, figures = best(measure, 3)
        print(f"audience {name}: {figures.count:,} customers, {seconds * 1000:.0f} ms")
    database.dispose()


if __name__ == "__main__":
    main()
