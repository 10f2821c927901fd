"""Time the nightly prediction job end to end: read every order, fit, score, write every customer.

    .venv/bin/python bench/predict_bench.py --customers 100000
    .venv/bin/python bench/predict_bench.py --customers 1000000
    .venv/bin/python bench/predict_bench.py --customers 100000 --database postgresql
    .venv/bin/python bench/predict_bench.py --customers 100000 --models-only

A fresh database gets the shop of `bench/predict_data.py` (about 5 orders per customer drawn
from the models, opens and clicks for half of them); then `run_predictions`, the function
`engine:predict` and `mailengine predict` call, runs in a process of its own, which reports
its time and its peak RSS (the figures of the 60 s / 1 GB goal at 100,000 customers). It
runs `--runs` times; the second and later runs overwrite the first's figures, as every
night does. `--models-only` times the models alone on arrays in memory (no database).

`sqlite` is a file in a temporary folder; `postgresql` a database of its own on the test
server (MAILENGINE_TEST_POSTGRES_URL, dropped afterwards); any other value is used as a URL.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.predict_data import NOW, TODAY, TRUE_BGNBD, TRUE_SPEND, fill
from bench.predictions_bench import opened
from mailengine.predict import fit_models, score, summarise
from mailengine.predict.simulate import simulate_orders


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not the high-water mark
    of the parent it was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job(url: str) -> None:
    """In the child process: one run of the job, then its figures as JSON on stdout."""
    from mailengine.engine.prediction_job import run_predictions
    from mailengine.store.database import Database

    database = Database(url)
    before = peak_mb()
    started = time.perf_counter()
    run = run_predictions(database, ZoneInfo("Europe/Berlin"), NOW)
    seconds = time.perf_counter() - started
    database.dispose()
    figures = {"seconds": seconds, "peak_mb": peak_mb(), "start_mb": before, **run.as_json()}
    print(json.dumps(figures))


def models_only(customers: int, seed: int) -> None:
    orders = simulate_orders(customers, TRUE_BGNBD, TRUE_SPEND, now=TODAY, span_days=1095,
                             seed=seed)  # fmt: skip
    before = peak_mb()
    print(f"{customers:,} customers, {len(orders):,} orders in memory; peak RSS {before:.0f} MB")
    started = time.perf_counter()
    summaries = summarise(orders.customer, orders.day, orders.amount, TODAY)
    models = fit_models(summaries)
    score(models, summaries, TODAY)
    print(f"summaries, fits, scores: {time.perf_counter() - started:.2f} s; peak RSS "
          f"{peak_mb():.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a URL")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--models-only", action="store_true")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # the child: a database URL
    args = parser.parse_args()
    if args.job:
        job(args.job)
        return
    if args.models_only:
        models_only(args.customers, args.seed)
        return
    with opened(args.database) as database:
        database.upgrade()
        fill(database, args.customers, args.seed)
        for number in range(1, args.runs + 1):
            child = subprocess.run(
                [sys.executable, __file__, "--job", database.url],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            bg = figures["bgnbd"]
            print(
                f"run {number}: {figures['customers']:,} customers ({figures['scored']:,} with "
                f"orders, {figures['orders']:,} orders) in {figures['seconds']:.1f} s; peak RSS "
                f"{figures['peak_mb']:.0f} MB ({figures['start_mb']:.0f} MB after imports); "
                f"r={bg['r']:.3f} α={bg['alpha_days']:.1f} a={bg['a']:.3f} b={bg['b']:.3f} "
                f"(true {TRUE_BGNBD.r} {TRUE_BGNBD.alpha} {TRUE_BGNBD.a} {TRUE_BGNBD.b}); "
                f"{database.engine.dialect.name}"
            )


if __name__ == "__main__":
    main()
