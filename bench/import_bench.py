"""Time `mailengine import` of demo customers and orders from CSV (SQLite, or --database URL).

.venv/bin/python bench/import_bench.py --customers 100000 --seed 7
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from mailengine.dev import demo
from mailengine.importing.importer import ImportOptions, import_file
from mailengine.store.database import Database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    now = demo.default_now()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        customers_csv, orders_csv = demo.write_csv(args.customers, args.seed, now, Path(folder))
        order_rows = sum(1 for _ in orders_csv.open(encoding="utf-8")) - 1
        print(
            f"generated {args.customers:,} customers and {order_rows:,} orders as CSV "
            f"in {time.perf_counter() - started:.1f} s"
        )
        database = Database(args.database or f"sqlite:///{folder}/bench.db")
        database.upgrade()
        options = ImportOptions(zone=ZoneInfo("Europe/Berlin"), currency="EUR", now=now)
        total = 0.0
        for kind, path, rows in (
            ("customers", customers_csv, args.customers),
            ("orders", orders_csv, order_rows),
        ):
            started = time.perf_counter()
            report = import_file(database, path, kind, options)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - started
            total += elapsed
            print(
                f"import {kind}: {rows:,} rows in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s), "
                f"{report.inserted:,} inserted, {len(report.rejected)} rejected"
            )
        print(f"total import time: {total:.1f} s on {database.dialect}")
        database.dispose()


if __name__ == "__main__":
    main()
