"""Fixtures shared by every test: databases of both kinds, a frozen clock.

`MAILENGINE_TEST_NOW=<ISO instant with offset>` runs the whole session at that instant (the
wall clock starts there and ticks on), so that a test that depends on today's date fails on
any day, not only on the unlucky ones; `MAILENGINE_TEST_TZ=<IANA zone>` also makes that the
process's local zone. `.ci/clock-matrix` runs the date-sensitive tests at several instants.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

import mailengine.store.models  # noqa: F401  (the tables)
from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from tests.databases import (
    empty_tables,
    postgres_unavailable_reason,
    scratch_postgres_database,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_session_travel: time_machine.travel | None = None


def session_instant() -> datetime | None:
    """The instant MAILENGINE_TEST_NOW (and MAILENGINE_TEST_TZ) ask for, if any."""
    text = os.environ.get("MAILENGINE_TEST_NOW", "").strip()
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as error:
        raise pytest.UsageError(f"MAILENGINE_TEST_NOW={text!r}: {error}") from error
    if instant.utcoffset() is None:
        raise pytest.UsageError(f"MAILENGINE_TEST_NOW={text!r} needs an offset, e.g. +01:00")
    zone = os.environ.get("MAILENGINE_TEST_TZ", "").strip()
    return instant.astimezone(ZoneInfo(zone)) if zone else instant


def pytest_configure(config: pytest.Config) -> None:
    global _session_travel
    instant = session_instant()
    if instant is not None:
        _session_travel = time_machine.travel(instant, tick=True)
        _session_travel.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _session_travel
    if _session_travel is not None:
        _session_travel.stop()
        _session_travel = None


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = session_instant()
    if instant is None:
        return None
    return f"clock: the session starts at {instant.isoformat()} ({instant.tzname()})"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the whole run, migrated once; dropped at the end."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the whole run; tests get copies of it
    (`fresh_sqlite`): copying takes milliseconds, migrating a tenth of a second."""
    path = tmp_path_factory.mktemp("migrated") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()  # the last connection closing folds the WAL into the file
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


def fresh_sqlite(template: Path, folder: Path) -> Database:
    """A migrated, empty SQLite database of the test's own, in `folder`."""
    path = folder / "test.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        database = fresh_sqlite(request.getfixturevalue("migrated_sqlite_file"), tmp_path)
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        empty_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_database(migrated_sqlite_file: Path, tmp_path: Path) -> Iterator[Database]:
    database = fresh_sqlite(migrated_sqlite_file, tmp_path)
    yield database
    database.dispose()
