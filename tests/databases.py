"""Throw-away databases for tests: a SQLite file, or a PostgreSQL database of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

import mailengine.store.models  # noqa: F401  (the tables)
from mailengine.store.database import FOREIGN_TABLES, Database

POSTGRES_URL = os.environ.get(
    "MAILENGINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_unavailable_reason() -> str | None:
    """None when the test PostgreSQL server answers, else why the tests must skip."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as error:
        return f"no PostgreSQL reachable at {POSTGRES_URL}: {str(error.orig).strip()}"
    return None


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """Create a database named mailengine_test_<random>, yield its URL, drop it afterwards."""
    name = f"mailengine_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def opened_database(url: str) -> Iterator[Database]:
    """A Database for the block; its connections are closed however the block ends."""
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def empty_tables(database: Database) -> None:
    """Every table of ours, and APScheduler's stored jobs (a test's schedules must not run
    in the next test); on PostgreSQL every sequence starts again at its start value too."""
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        for name in sorted(FOREIGN_TABLES):
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        if database.is_postgresql:
            # TRUNCATE makes new files for every table and index (~0.15 s for all of them,
            # before each PostgreSQL test): only the tables that hold rows, and only the
            # sequences that were used (an insert rolled back still uses a number).
            found = " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT FROM \"{name}\")" for name in tables
            )
            filled = connection.execute(text(found)).scalars().all()
            if filled:
                names = ", ".join(f'"{name}"' for name in filled)
                connection.execute(text(f"TRUNCATE {names} CASCADE"))
            connection.execute(text(_RESTART_USED_SEQUENCES))
        else:
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))


# What TRUNCATE ... RESTART IDENTITY does to each table's sequences, for all of them.
_RESTART_USED_SEQUENCES = """
SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)
FROM pg_sequences
WHERE last_value IS NOT NULL AND schemaname = current_schema()
"""
