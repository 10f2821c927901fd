"""Time counting each shipped workflow's audience on 1,000,000 customers and 5,000,000 orders.

Generates the data straight into the tables (executemany on SQLite, COPY on PostgreSQL), with
the per-customer figures consistent with the orders, then counts every audience of
`workflows/` several times and prints the median.

    .venv/bin/python bench/audience_bench.py --database sqlite:///var/bench.db
    .venv/bin/python bench/audience_bench.py \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/mailengine_bench
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from mailengine.store.audience_queries import count_audience, stream_audience
from mailengine.store.database import Database
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.loader import load_workflows

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EPOCH = NOW - timedelta(days=3 * 365)
CONSENT = (("granted", 60), ("withdrawn", 10), ("pending", 10), ("unknown", 20))
CITIES = (
    ("Berlin", "10115", "DE", "de_DE", "Europe/Berlin"),
    ("Hamburg", "20095", "DE", "de_DE", "Europe/Berlin"),
    ("Wien", "1010", "AT", "de_AT", "Europe/Vienna"),
    ("Paris", "75001", "FR", "fr_FR", "Europe/Paris"),
    ("London", "EC1A 1BB", "GB", "en_GB", "Europe/London"),
    ("New York", "10001", "US", "en_US", "America/New_York"),
)
UNCOUNTED = ("cancelled", "returned")
CUSTOMER_COLUMNS = (
    "id, email, email_hash, first_name, last_name, locale, timezone, birthday, birthday_md, "
    "zip, city, country, attributes, consent_status, consent_updated_at, created_at, "
    "updated_at, forgotten_at, orders_count, total_spent_minor, first_order_at, last_order_at, "
    "spent_365d_minor, figures_as_of"
)
ORDER_COLUMNS = (
    "id, external_id, customer_id, channel, store_location, amount_minor, currency, "
    "base_amount_minor, status, items, placed_at, created_at, updated_at"
)
# Indexes the audiences need that the schema does not have yet (proposed for the migration):
# `top: {by: ...}` walks the figure's index to find the threshold.
PROPOSED_INDEXES = (
    ("ix_customer_spent_365d", "customer", "spent_365d_minor"),
    ("ix_customer_total_spent", "customer", "total_spent_minor"),
)
ITEMS = json.dumps([{"sku": "TS-100", "name": "Organic cotton T-shirt", "quantity": 1}])


def stamp(moment: datetime, postgres: bool) -> str:
    """A timestamp as the UTCDateTime column stores it (text on SQLite)."""
    if postgres:
        return moment.isoformat()
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def generate(
    customers: int, orders: int, seed: int, postgres: bool
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Batches of (customer rows, order rows); figures are computed from the orders."""
    rng = random.Random(seed)
    consent_weights = [weight for _, weight in CONSENT]
    consent_names = [name for name, _ in CONSENT]
    mean_orders = orders / (customers * 0.7)
    since_365 = NOW - timedelta(days=365)
    now_text = stamp(NOW, postgres)
    remaining = orders
    order_id = 0
    batch_c: list[tuple[Any, ...]] = []
    batch_o: list[tuple[Any, ...]] = []
    span = (NOW - EPOCH).total_seconds()
    for customer_id in range(1, customers + 1):
        created = EPOCH + timedelta(seconds=rng.random() * span * 0.9)
        email = f"customer{customer_id}@example.org"
        city = CITIES[customer_id % len(CITIES)]
        birthday: date | None = None
        if rng.random() < 0.7:
            birthday = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        consent = rng.choices(consent_names, consent_weights)[0]
        count = 0
        if remaining and rng.random() < 0.7:
            left = customers - customer_id + 1
            count = min(remaining, 1 + int(rng.expovariate(1 / max(mean_orders - 1, 0.1))))
            if left == 1:
                count = remaining
        remaining -= count
        placed_list = sorted(
            created + timedelta(seconds=rng.random() * (NOW - created).total_seconds())
            for _ in range(count)
        )
        counted = total = recent = 0
        first = last = None
        for placed in placed_list:
            order_id += 1
            amount = int(rng.lognormvariate(8.4, 0.6))
            status = "cancelled" if rng.random() < 0.04 else "delivered"
            if status not in UNCOUNTED:
                counted += 1
                total += amount
                recent += amount if placed >= since_365 else 0
                first = first or placed
                last = placed
            placed_text = stamp(placed, postgres)
            batch_o.append(
                (
                    order_id,
                    f"B-{order_id}",
                    customer_id,
                    "online" if order_id % 3 else "store",
                    None,
                    amount,
                    "EUR",
                    amount,
                    status,
                    ITEMS,
                    placed_text,
                    placed_text,
                    placed_text,
                )
            )
        attributes = {"shoe_size": str(36 + customer_id % 11), "vip": customer_id % 50 == 0}
        batch_c.append(
            (
                customer_id,
                email,
                hashlib.sha256(email.encode()).hexdigest(),
                "Anna",
                "Muster",
                city[3],
                city[4],
                birthday.isoformat() if birthday else None,
                birthday.month * 100 + birthday.day if birthday else None,
                city[1],
                city[0],
                city[2],
                json.dumps(attributes),
                consent,
                stamp(created, postgres),
                stamp(created, postgres),
                now_text,
                stamp(NOW, postgres) if customer_id % 200 == 0 else None,
                counted,
                total,
                stamp(first, postgres) if first else None,
                stamp(last, postgres) if last else None,
                recent,
                now_text,
            )
        )
        if len(batch_c) >= 20_000:
            yield batch_c, batch_o
            batch_c, batch_o = [], []
    if batch_c:
        yield batch_c, batch_o


def suppressions(customers: int, seed: int, postgres: bool) -> list[tuple[Any, ...]]:
    """One address in a hundred is suppressed (bounced, complained, unsubscribed)."""
    rng = random.Random(seed + 1)
    chosen = rng.sample(range(1, customers + 1), customers // 100)
    now_text = stamp(NOW, postgres)
    return [
        (
            index + 1,
            hashlib.sha256(f"customer{customer_id}@example.org".encode()).hexdigest(),
            "hard-bounce",
            now_text,
        )
        for index, customer_id in enumerate(chosen)
    ]


def fill_sqlite(database: Database, customers: int, orders: int, seed: int) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        marks_c = ", ".join("?" * len(CUSTOMER_COLUMNS.split(",")))
        marks_o = ", ".join("?" * len(ORDER_COLUMNS.split(",")))
        for batch_c, batch_o in generate(customers, orders, seed, postgres=False):
            cursor.executemany(
                f"INSERT INTO customer ({CUSTOMER_COLUMNS}) VALUES ({marks_c})",  # noqa: S608
                batch_c,
            )
            cursor.executemany(
                f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({marks_o})",  # noqa: S608
                batch_o,
            )
        cursor.executemany(
            "INSERT INTO suppression (id, address_hash, reason, created_at) VALUES (?, ?, ?, ?)",
            suppressions(customers, seed, postgres=False),
        )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def fill_postgres(database: Database, customers: int, orders: int, seed: int) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        for batch_c, batch_o in generate(customers, orders, seed, postgres=True):
            with cursor.copy(f"COPY customer ({CUSTOMER_COLUMNS}) FROM STDIN") as copy:
                for row in batch_c:
                    copy.write_row(row)
            with cursor.copy(f"COPY orders ({ORDER_COLUMNS}) FROM STDIN") as copy:
                for row in batch_o:
                    copy.write_row(row)
        with cursor.copy(
            "COPY suppression (id, address_hash, reason, created_at) FROM STDIN"
        ) as copy:
            for row in suppressions(customers, seed, postgres=True):
                copy.write_row(row)
        for table in ("customer", "orders", "suppression"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        raw.commit()
    finally:
        raw.close()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def prepare(url: str, customers: int, orders: int, seed: int, reuse: bool) -> Database:
    database = Database(url)
    if reuse and database.current_revision() is not None:
        with database.engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM customer")).scalar_one()
        if stored == customers:
            print(f"reusing {stored:,} customers in {database.safe_url}")
            return database
    if database.is_postgresql:
        _recreate_postgres(url)
    else:
        _remove_sqlite(url)
    database = Database(url)
    database.upgrade()
    started = time.perf_counter()
    if database.is_postgresql:
        fill_postgres(database, customers, orders, seed)
    else:
        fill_sqlite(database, customers, orders, seed)
    print(
        f"generated {customers:,} customers and {orders:,} orders in "
        f"{time.perf_counter() - started:.0f} s on {database.dialect}"
    )
    return database


def _remove_sqlite(url: str) -> None:
    name = make_url(url).database
    if name:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)


def _recreate_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = Database(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def add_proposed_indexes(database: Database) -> None:
    with database.engine.begin() as connection:
        for name, table, columns in PROPOSED_INDEXES:
            connection.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))
        connection.execute(text("ANALYZE"))


def measure(database: Database, runs: int) -> None:
    workflows = load_workflows([Path(__file__).resolve().parents[1] / "workflows"])
    workflows.raise_for_problems()
    context = AudienceContext(NOW)
    print(f"{'workflow':<12} {'customers':>10} {'median s':>9} {'max s':>7}")
    with database.session() as session:
        for name, workflow in sorted(workflows.workflows.items()):
            count_audience(session, workflow, context)  # warm the cache
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                count = count_audience(session, workflow, context)
                timings.append(time.perf_counter() - started)
            print(
                f"{name:<12} {count:>10,} {statistics.median(timings):>9.3f} {max(timings):>7.3f}"
            )
        winback = workflows.workflows["win-back"]
        started = time.perf_counter()
        rows = sum(len(batch) for batch in stream_audience(session, winback, context, 1000))
        elapsed = time.perf_counter() - started
        print(f"stream win-back: {rows:,} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite:///var/audience-bench.db")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep data of an earlier run")
    args = parser.parse_args()
    database = prepare(args.database, args.customers, args.orders, args.seed, args.reuse)
    add_proposed_indexes(database)
    measure(database, args.runs)
    database.dispose()


if __name__ == "__main__":
    main()
