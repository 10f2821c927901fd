"""Time `write_predictions`: every customer's predicted figures stored in one go.

Fills a fresh database with bare customers (one INSERT ... SELECT in the database), then
writes a prediction for each of them `--runs` times, each run in one transaction as the
nightly job writes them, and prints each run and the median in rows per second.

    .venv/bin/python bench/predictions_bench.py --customers 100000 --database sqlite
    .venv/bin/python bench/predictions_bench.py --customers 100000 --database postgresql

`sqlite` is a file in a temporary folder; `postgresql` a database of its own on the test
server (MAILENGINE_TEST_POSTGRES_URL, dropped afterwards); any other value is used as a URL.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailengine.store.database import Database
from mailengine.store.predictions import CustomerPrediction, write_predictions
from tests.databases import scratch_postgres_database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_FILL_SQLITE = """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
    INSERT INTO customer (id, email, email_hash, attributes, consent_status, created_at,
        updated_at, orders_count, total_spent_minor, spent_365d_minor)
    SELECT i, 'c' || i || '@example.com', 'h' || i, '{}', 'granted', :now, :now, 0, 0, 0
    FROM n
"""
_FILL_POSTGRESQL = """
    INSERT INTO customer (id, email, email_hash, attributes, consent_status, created_at,
        updated_at, orders_count, total_spent_minor, spent_365d_minor)
    SELECT i, 'c' || i || '@example.com', 'h' || i, '{}', 'granted', :now, :now, 0, 0, 0
    FROM generate_series(1, :count) AS i
"""


@contextmanager
def opened(kind: str) -> Iterator[Database]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{folder}/bench.db")
            yield database
            database.dispose()
    elif kind == "postgresql":
        with scratch_postgres_database() as url:
            database = Database(url)
            yield database
            database.dispose()
    else:
        database = Database(kind)
        yield database
        database.dispose()


def fill(database: Database, count: int) -> None:
    postgres = database.is_postgresql
    now = NOW if postgres else NOW.replace(tzinfo=None).isoformat(sep=" ")
    with database.transaction() as session:
        statement = _FILL_POSTGRESQL if postgres else _FILL_SQLITE
        session.execute(text(statement), {"count": count, "now": now})
    if postgres:
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE customer")
            )


def predictions(count: int, seed: int) -> Iterator[CustomerPrediction]:
    rng = random.Random(seed)
    for customer_id in range(1, count + 1):
        active = rng.random()
        next_order = NOW + timedelta(hours=rng.randrange(-2000, 8000)) if active > 0.1 else None
        yield CustomerPrediction(
            customer_id, active, 1.0 - active, rng.random() * 3, next_order,
            rng.randrange(0, 100_000), rng.randrange(24) if active > 0.3 else None, NOW,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a URL")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with opened(args.database) as database:
        database.upgrade()
        started = time.perf_counter()
        fill(database, args.customers)
        print(f"{args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        rows = list(predictions(args.customers, seed=1))  # made before the clock starts
        rates = []
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            with database.transaction() as session:
                updated = write_predictions(session, rows)
            seconds = time.perf_counter() - started
            assert updated == args.customers, updated
            rates.append(updated / seconds)
            print(f"run {run}: {updated:,} customers in {seconds:.2f} s, {rates[-1]:,.0f} rows/s")
        print(f"median: {statistics.median(rates):,.0f} rows/s ({database.engine.dialect.name})")


if __name__ == "__main__":
    main()
