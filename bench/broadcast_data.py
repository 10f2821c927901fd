"""Demo-like shop data at scale for the broadcast bench, written by the database itself.

Set-based INSERT ... SELECT statements over the numbers 1..N (generate_series on PostgreSQL,
a recursive CTE on SQLite): customers in the demo's cities, zones, locales and first names
(`mailengine.dev.demo`), three quarters with consent, 0.1 % forgotten; 1 % of the addresses
suppressed (half never-mail, half unsubscribed); 2 % who turned the newsletter off; and 2.5 %
who got three marketing mails in the last days (contact pressure skips them). Also the
reference the planner is compared with: one plain INSERT ... SELECT of as many rows into a
copy of the outbox (same columns, indexes and foreign key), without any audience rules.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mailengine.dev.demo import FIRST_NAMES, PLACES
from mailengine.store.database import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_NOW_TEXT = "2026-11-23 09:00:00"
_SQLITE_SEQ = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :n)"
_POSTGRES_SEQ = "WITH seq(n) AS (SELECT generate_series(1, :n))"
NO_ZONE_EVERY = 25  # every 25th customer has no time zone stored (the shop's zone applies)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _at(postgres: bool, seconds: str) -> str:
    """NOW plus `seconds` (an SQL expression), as the UTCDateTime column stores it."""
    if postgres:
        return f"(TIMESTAMPTZ '{_NOW_TEXT}+00' + ({seconds}) * INTERVAL '1 second')"
    return f"(strftime('%Y-%m-%d %H:%M:%f', '{_NOW_TEXT}', ({seconds}) || ' seconds') || '000')"


def _places() -> str:
    rows = ", ".join(
        f"({k}, {_quoted(p.city)}, {_quoted(p.zip)}, {_quoted(p.country)}, "
        f"{_quoted(p.locale)}, {_quoted(p.timezone)})"
        for k, p in enumerate(PLACES)
    )
    return f"places(k, city, zip, country, locale, timezone) AS (VALUES {rows})"


def _names() -> str:
    names = [name for group in FIRST_NAMES.values() for name in group]
    rows = ", ".join(f"({k}, {_quoted(name)})" for k, name in enumerate(names))
    return f"names(k, first_name) AS (VALUES {rows})"


def statements(postgres: bool) -> list[str]:
    seq = _POSTGRES_SEQ if postgres else _SQLITE_SEQ

    def at(seconds: str) -> str:
        return _at(postgres, seconds)

    json = "jsonb" if postgres else "TEXT"
    name_count = sum(len(group) for group in FIRST_NAMES.values())
    return [
        f"""{seq}, {_places()}, {_names()}
        INSERT INTO customer (id, email, email_hash, first_name, locale, timezone, zip, city,
            country, attributes, consent_status, consent_updated_at, created_at, updated_at,
            forgotten_at, orders_count, total_spent_minor, spent_365d_minor)
        SELECT n, 'customer' || n || '@example.org', 'h' || n, names.first_name, places.locale,
            CASE WHEN n % {NO_ZONE_EVERY} = 0 THEN NULL ELSE places.timezone END,
            places.zip, places.city, places.country,
            CAST('{{"shirt_size": "M"}}' AS {json}),
            CASE WHEN n % 20 < 15 THEN 'granted' WHEN n % 20 < 17 THEN 'withdrawn'
                WHEN n % 20 < 19 THEN 'pending' ELSE 'unknown' END,
            {at("-86400 * (n % 700)")}, {at("-86400 * (n % 700) - 60")},
            {at("-86400 * (n % 700) - 60")},
            CASE WHEN n % 1000 = 999 THEN {at("-3600")} END, 0, 0, 0
        FROM seq JOIN places ON places.k = n % {len(PLACES)}
            JOIN names ON names.k = n % {name_count}""",  # noqa: S608 (constants of this file)
        f"""{seq} INSERT INTO suppression (address_hash, reason, detail, created_at)
        SELECT 'h' || n, CASE WHEN n % 200 = 7 THEN 'bounce' ELSE 'unsubscribe' END, NULL,
            {at("-86400")} FROM seq WHERE n % 100 = 7""",  # noqa: S608 (constants of this file)
        f"""{seq} INSERT INTO mail_preference (customer_id, topic, subscribed, updated_at)
        SELECT n, 'newsletter', FALSE, {at("-86400")} FROM seq WHERE n % 50 = 3""",  # noqa: S608
        f"""{seq}, k(k) AS (VALUES (1), (2), (3))
        INSERT INTO outbox (idempotency_key, kind, workflow, step, customer_id, recipient,
            template, subject, payload, message_id, state, attempts, next_attempt_at,
            created_at, updated_at, sent_at)
        SELECT 'weekly-offers:send:' || n || ':' || k, 'marketing', 'weekly-offers', 'send', n,
            'customer' || n || '@example.org', 'weekly/offers', 'Offers',
            CAST('{{}}' AS {json}), '<prior.' || n || '.' || k || '@shop.example>', 'sent', 1,
            {at("-86400 * k")}, {at("-86400 * k")}, {at("-86400 * k")}, {at("-86400 * k")}
        FROM seq CROSS JOIN k WHERE n % 40 = 1""",  # noqa: S608 (constants of this file)
    ]


def fill(database: Database, customers: int) -> float | None:
    """Write the data unless customers are there already; the seconds it took (None: kept)."""
    started = time.perf_counter()
    with database.engine.begin() as connection:
        if connection.execute(text("SELECT count(*) FROM customer")).scalar_one():
            return None
        for statement in statements(database.is_postgresql):
            connection.execute(text(statement), {"n": customers})
    settle(database)
    return time.perf_counter() - started


def settle(database: Database) -> None:
    """VACUUM ANALYZE on PostgreSQL (as autovacuum would soon), so that its planner knows the
    tables and no autovacuum runs during a measurement; SQLite gets nothing (the engine never
    runs ANALYZE there)."""
    if not database.is_postgresql:
        return
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def clear_broadcasts(database: Database) -> None:
    """Drop what earlier runs planned, so that every run starts from the same outbox."""
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox WHERE workflow LIKE 'broadcast:%'"))
        connection.execute(text("DELETE FROM broadcast"))
        connection.execute(text("DROP TABLE IF EXISTS outbox_copy"))
    settle(database)


def _copy_outbox(connection: Connection, postgres: bool) -> None:
    if postgres:
        connection.execute(text("CREATE TABLE outbox_copy (LIKE outbox INCLUDING ALL)"))
        connection.execute(
            text("ALTER TABLE outbox_copy ADD FOREIGN KEY (customer_id) REFERENCES customer (id)")
        )
        return
    found = connection.execute(
        text("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'outbox' AND sql IS NOT NULL")
    )
    for _, sql in sorted(found, key=lambda row: row[0] != "table"):
        sql = sql.replace("TABLE outbox ", "TABLE outbox_copy ", 1)
        sql = sql.replace(" ON outbox ", " ON outbox_copy ", 1).replace("ix_outbox", "ix_copy")
        connection.execute(text(sql))


def reference(database: Database, rows: int) -> float:
    """Seconds for one INSERT ... SELECT of `rows` customers into a copy of the outbox, with
    the same kind of values the planner writes (a key and a Message-ID per customer)."""
    postgres = database.is_postgresql
    json = "jsonb" if postgres else "TEXT"
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS outbox_copy"))
        _copy_outbox(connection, postgres)
    started = time.perf_counter()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                f"""INSERT INTO outbox_copy (idempotency_key, kind, workflow, workflow_version,
                    step, customer_id, recipient, template, subject, preheader, payload,
                    message_id, state, attempts, next_attempt_at, created_at, updated_at)
                SELECT 'broadcast:reference:' || id, 'marketing', 'broadcast:reference', 'v1',
                    'all', id, email, 'newsletter/newsletter', 'Our sale', 'Until Sunday',
                    CAST('{{"broadcast": "reference", "variant": "all"}}' AS {json}),
                    '<ref.' || id || '@shop.example>', 'queued', 0, {_at(postgres, "0")},
                    {_at(postgres, "0")}, {_at(postgres, "0")}
                FROM customer ORDER BY id LIMIT :rows"""  # noqa: S608 (constants of this file)
            ),
            {"rows": rows},
        )
    seconds = time.perf_counter() - started
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE outbox_copy"))
    return seconds
