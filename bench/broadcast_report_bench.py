"""Time a broadcast's report over a big outbox: per-variant figures and the series.

Generates the data in the database itself (a recursive CTE on SQLite, generate_series on
PostgreSQL): N customers and one broadcast message each (A 10 %, B 10 %, the rest B), 1 %
refused, 1 % skipped, 25 % opened (an eighth twice), 4 % clicked, 0.5 % soft bounces, 0.2 %
unsubscribes, 2 % ordering within the window and 1 % after it. Then runs the report's
three statements (figures and series in one go) several times and prints the median.

    .venv/bin/python bench/broadcast_report_bench.py --database sqlite:///var/bench-report.db
    .venv/bin/python bench/broadcast_report_bench.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/mailengine_report_bench
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from mailengine.store.broadcast_report import Bucket, broadcast_report
from mailengine.store.database import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SENT = "2026-11-13 09:00:00"
WINDOW = timedelta(days=5)
BUCKETS: tuple[Bucket, ...] = ("hour", "day")

# {seq}: the numbers 1..N as a table `seq(n)`; {at}: SENT plus `seconds`, as the column stores it.
_SQLITE_SEQ = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :n)"
_POSTGRES_SEQ = "WITH seq(n) AS (SELECT generate_series(1, :n))"


def _sqlite_at(seconds: str) -> str:
    return f"(strftime('%Y-%m-%d %H:%M:%f', '{SENT}', ({seconds}) || ' seconds') || '000')"


def _postgres_at(seconds: str) -> str:
    return f"(TIMESTAMPTZ '{SENT}+00' + ({seconds}) * INTERVAL '1 second')"


def _statements(postgres: bool) -> list[str]:
    seq = _POSTGRES_SEQ if postgres else _SQLITE_SEQ
    at = _postgres_at if postgres else _sqlite_at
    payload = (
        'CAST(\'{"broadcast": "bench", "phase": "\' || '
        "CASE WHEN (n / 7) % 10 < 2 THEN 'test' ELSE 'rest' END || '\"}' AS {json})"
    ).replace("{json}", "jsonb" if postgres else "TEXT")
    empty_object = "CAST('{}' AS jsonb)" if postgres else "'{}'"
    empty_list = "CAST('[]' AS jsonb)" if postgres else "'[]'"
    raw = "CAST('x' AS bytea)" if postgres else "X'78'"
    return [
        f"""{seq} INSERT INTO customer (id, email, email_hash, attributes, consent_status,
            created_at, updated_at, orders_count, total_spent_minor, spent_365d_minor)
            SELECT n, 'c' || n || '@example.com', 'h' || n, {empty_object},
            'granted', {at("-864000")}, {at("-864000")}, 0, 0, 0 FROM seq""",  # noqa: S608 (constants of this file only)
        f"""{seq} INSERT INTO outbox (id, idempotency_key, kind, workflow, step, customer_id,
            recipient, template, subject, payload, message_id, state, attempts, next_attempt_at,
            created_at, updated_at, sent_at, last_reply)
            SELECT n, 'broadcast:bench:' || n, 'marketing', 'broadcast:bench',
            CASE WHEN (n / 7) % 10 = 0 THEN 'A' ELSE 'B' END, n, 'c' || n || '@example.com',
            't', 's',
            {payload}, '<' || n || '@bench>',
            CASE n % 100 WHEN 0 THEN 'failed' WHEN 1 THEN 'suppressed' ELSE 'sent' END, 1,
            {at("0")}, {at("0")}, {at("0")},
            CASE WHEN n % 100 > 1 THEN {at("n % 7200")} END,
            CASE n % 100 WHEN 0 THEN '550 no such user'
            WHEN 1 THEN 'contact pressure: 2 in 7 days' END
            FROM seq""",  # noqa: S608 (constants of this file only)
        f"""{seq} INSERT INTO tracking_event (outbox_id, kind, occurred_at)
            SELECT n, 'open', {at("n % 7200 + 1800")} FROM seq WHERE n % 4 = 2
            UNION ALL SELECT n, 'open', {at("n % 7200 + 9000")} FROM seq WHERE n % 8 = 2
            UNION ALL SELECT n, 'click', {at("n % 7200 + 2000")} FROM seq WHERE n % 25 = 2
            UNION ALL SELECT n, 'unsubscribe', {at("n % 7200 + 4000")} FROM seq WHERE n % 500 = 7
            UNION ALL SELECT n, 'bounce', {at("n % 7200 + 60")} FROM seq WHERE n % 100 = 0""",  # noqa: S608 (constants of this file only)
        f"""INSERT INTO inbound_message (id, source, envelope_to, received_at, size, sha256, raw,
            rules, state, attempts)
            VALUES (1, 'test', {empty_list}, {at("60")}, 1,
            'bench', {raw},
            {empty_list}, 'done', 1)""",  # noqa: S608 (constants of this file only)
        f"""{seq} INSERT INTO bounce (inbound_message_id, address_hash, outbox_id, kind, reason,
            occurred_at) SELECT 1, 'h' || n, n, 'soft', 'mailbox full', {at("n % 7200 + 600")}
            FROM seq WHERE n % 200 = 3""",  # noqa: S608 (constants of this file only)
        f"""{seq} INSERT INTO orders (id, external_id, customer_id, channel, amount_minor,
            currency, base_amount_minor, status, items, placed_at, created_at, updated_at)
            SELECT n, 'o' || n, n, 'online', 1000 + n % 9000, 'EUR', 1000 + n % 9000, 'placed',
            {empty_list},
            CASE WHEN n % 100 < 4 THEN {at("n % 7200 + 86400")}
            ELSE {at("n % 7200 + 600000")} END,
            {at("0")}, {at("0")}
            FROM seq WHERE n % 100 BETWEEN 2 AND 4""",  # noqa: S608 (constants of this file only)
    ]


def fill(database: Database, recipients: int) -> None:
    started = time.perf_counter()
    with database.engine.begin() as connection:
        if connection.execute(text("SELECT count(*) FROM outbox")).scalar_one():
            print("outbox not empty: using the data already there")
            return
        for statement in _statements(database.is_postgresql):
            connection.execute(text(statement), {"n": recipients})
        if database.is_postgresql:
            connection.execute(text("ANALYZE"))
    print(f"generated {recipients:,} messages in {time.perf_counter() - started:.1f} s")


def timed(label: str, runs: int, work: Callable[[], Any]) -> Any:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    spread = f"{min(times):.2f}-{max(times):.2f}"
    print(f"{label}: median {statistics.median(times):.2f} s of {runs} runs ({spread})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    database = Database(options.database)
    database.upgrade()
    fill(database, options.recipients)
    with database.session() as session:
        report = timed(
            "figures and series (three statements)",
            options.runs,
            lambda: broadcast_report(session, "bench", WINDOW, NOW),
        )
    for name, found in report.variants.items():
        print(
            f"  {name}: planned {found.planned:,} sent {found.sent:,} delivered "
            f"{found.delivered:,} opened {found.opened:,} clicked {found.clicked:,} "
            f"conversions {found.conversions:,}"
        )
    for bucket in BUCKETS:
        print(f"  per {bucket}: {len(report.series(bucket))} points")
    database.dispose()


if __name__ == "__main__":
    main()
