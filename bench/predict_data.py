"""A shop for the prediction benchmark: customers, orders drawn from the models, opens and clicks.

Customers (a fifth without a zone of their own, a fifth in New York, the rest in Berlin) are
made by one INSERT ... SELECT in the database; their orders are drawn from BG/NBD and
Gamma-Gamma (`mailengine.predict.simulate`, ~5 per customer over three years, at hours that
peak in the evening) and loaded with executemany on SQLite and COPY on PostgreSQL; every
other customer gets one sent mail, opened and clicked.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import text

from mailengine.predict import BgNbdParams, GammaGammaParams
from mailengine.predict.simulate import simulate_orders
from mailengine.store.database import Database

TRUE_BGNBD = BgNbdParams(r=0.55, alpha=40.0, a=0.8, b=6.0)
TRUE_SPEND = GammaGammaParams(p=6.0, q=4.0, gamma=1500.0)  # minor units
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23).toordinal()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_CUSTOMERS_SQLITE = """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
    INSERT INTO customer (id, email, email_hash, attributes, consent_status, created_at,
        updated_at, orders_count, total_spent_minor, spent_365d_minor, timezone)
    SELECT i, 'c' || i || '@example.com', 'h' || i, '{}', 'granted', :now, :now, 0, 0, 0,
        CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'America/New_York' ELSE 'Europe/Berlin' END
    FROM n
"""
_CUSTOMERS_POSTGRESQL = """
    INSERT INTO customer (id, email, email_hash, attributes, consent_status, created_at,
        updated_at, orders_count, total_spent_minor, spent_365d_minor, timezone)
    SELECT i, 'c' || i || '@example.com', 'h' || i, '{}', 'granted', :now, :now, 0, 0, 0,
        CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'America/New_York' ELSE 'Europe/Berlin' END
    FROM generate_series(1, :count) AS i
"""
_OUTBOX = """
    INSERT INTO outbox (id, idempotency_key, kind, workflow, step, customer_id, recipient,
        template, subject, payload, message_id, state, attempts, next_attempt_at, created_at,
        updated_at, sent_at)
    SELECT id, 'bench:' || id, 'marketing', 'bench', 'mail', id, email, 'bench', 'Hello',
        '{}', '<' || id || '@bench>', 'sent', 1, :now, :now, :now, :now
    FROM customer WHERE id % 2 = 0
"""
_TRACKING_SQLITE = """
    INSERT INTO tracking_event (outbox_id, kind, occurred_at)
    SELECT o.id, kinds.kind, strftime('%Y-%m-%d %H:%M:%S.000000', :now,
        '-' || (o.id % 300) || ' days', '+' || (o.id % 7 + 8) || ' hours')
    FROM outbox AS o, (SELECT 'open' AS kind UNION ALL SELECT 'click') AS kinds
"""
_TRACKING_POSTGRESQL = """
    INSERT INTO tracking_event (outbox_id, kind, occurred_at)
    SELECT o.id, kinds.kind, CAST(:now AS timestamptz)
        - make_interval(days => o.id % 300) + make_interval(hours => o.id % 7 + 8)
    FROM outbox AS o, (VALUES ('open'), ('click')) AS kinds (kind)
"""
_COPY_ORDERS = """COPY orders (external_id, customer_id, channel, amount_minor, currency,
    base_amount_minor, status, items, placed_at, created_at, updated_at) FROM STDIN"""
_INSERT_ORDERS = """INSERT INTO orders (external_id, customer_id, channel, amount_minor,
    currency, base_amount_minor, status, items, placed_at, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def _placed(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds since the epoch: the day plus an hour that peaks around 19:00 UTC."""
    hour = np.clip(rng.normal(18.5, 3.0, days.size), 0, 23.99)
    return (days - _EPOCH_ORDINAL) * 86_400 + (hour * 3600).astype(np.int64)


def fill(database: Database, customers: int, seed: int = 7) -> int:
    """Store the shop; returns how many orders it has."""
    started = time.perf_counter()
    orders = simulate_orders(
        customers, TRUE_BGNBD, TRUE_SPEND, now=TODAY, span_days=1095, seed=seed
    )
    rng = np.random.default_rng(seed)
    placed = _placed(orders.day, rng)
    keep = placed < int(NOW.timestamp())
    ids = orders.customer[keep] + 1
    placed, amount = placed[keep], np.maximum(np.round(orders.amount[keep]), 1).astype(np.int64)
    postgres = database.is_postgresql
    now = NOW if postgres else NOW.isoformat(sep=" ", timespec="microseconds")[:26]
    with database.transaction() as session:
        statement = _CUSTOMERS_POSTGRESQL if postgres else _CUSTOMERS_SQLITE
        session.execute(text(statement), {"count": customers, "now": now})
        session.execute(text(_OUTBOX), {"now": now})
        tracking = _TRACKING_POSTGRESQL if postgres else _TRACKING_SQLITE
        session.execute(text(tracking), {"now": now})
    _load_orders(database, ids, placed, amount)
    print(
        f"filled {customers:,} customers, {ids.size:,} orders in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return int(ids.size)


def _load_orders(
    database: Database, ids: np.ndarray, placed: np.ndarray, amount: np.ndarray
) -> None:
    stamps = np.datetime_as_string(placed.astype("datetime64[s]"), unit="us")
    rows = (
        (f"O{n}", customer, "online", value, "EUR", value, "paid", "[]",
         stamp.replace("T", " "), stamp.replace("T", " "), stamp.replace("T", " "))
        for n, (customer, value, stamp) in enumerate(
            zip(ids.tolist(), amount.tolist(), stamps.tolist(), strict=True)
        )
    )  # fmt: skip
    with database.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        if database.is_postgresql:
            with (
                raw.cursor() as cursor,
                cursor.copy(_COPY_ORDERS) as copy,
            ):
                for row in rows:
                    copy.write_row((*row[:8], row[8] + "+00", row[9] + "+00", row[10] + "+00"))
            raw.commit()
            raw.autocommit = True
            raw.execute("VACUUM ANALYZE")
            raw.autocommit = False
        else:
            raw.executemany(_INSERT_ORDERS, rows)
            raw.commit()
