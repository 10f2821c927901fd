"""Throw-away databases for tests: a SQLite file, or a PostgreSQL database of its own."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

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
            _empty_postgresql(connection, tables)
        else:
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))


# Up to this many rows in every table, PostgreSQL tables are emptied with DELETE; beyond, with
# TRUNCATE, which leaves no dead rows behind but costs 0.1-0.7 s: it makes new files for every
# table it empties, and CASCADE empties every table that refers to one of them (from
# `customer`, most of them).
_FEW_ROWS = 1000


def _empty_postgresql(connection: Connection, tables: list[str]) -> None:
    """`tables` (those referring to others first) as TRUNCATE ... RESTART IDENTITY leaves them."""
    limit = _FEW_ROWS + 1
    counts = " UNION ALL ".join(
        f"SELECT '{name}', (SELECT count(*) FROM (SELECT FROM \"{name}\" LIMIT {limit}) AS t)"
        for name in tables
    )
    filled = {name: count for name, count in connection.execute(text(counts)) if count}
    if any(count > _FEW_ROWS for count in filled.values()):
        names = ", ".join(f'"{name}"' for name in tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for name in tables:
        if name in filled:
            connection.execute(text(f'DELETE FROM "{name}"'))
    # Every sequence that handed out a number (an insert rolled back uses one too).
    connection.execute(text(_RESTART_USED_SEQUENCES))


_RESTART_USED_SEQUENCES = """
SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)
FROM pg_sequences
WHERE last_value IS NOT NULL AND schemaname = current_schema()
"""


T = TypeVar("T")


@contextmanager
def held_transaction(database: Database, work: Callable[[Session], T]) -> Iterator[T]:
    """`work` done in a transaction of another thread's, which stays open (holding its locks,
    on SQLite the write lock) until the block ends; yields what `work` returned."""
    holding, release = threading.Event(), threading.Event()
    done: list[T] = []

    def other() -> None:
        with database.transaction() as session:
            done.append(work(session))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert holding.wait(10), "the other transaction did not begin"
        yield done[0]
    finally:
        release.set()
        thread.join()
