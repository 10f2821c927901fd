"""One engine per PostgreSQL cluster keeps the schedules; the others wait to take over. When
the lock's connection dies, its holder notices before the next fire, steps down, and the lock
is taken again cleanly; shutting down never fails on it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import create_engine, text

from mailengine.engine.leadership import LOCK_KEY, Leadership
from mailengine.engine.service import Engine
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from tests.databases import empty_tables
from tests.engine.harness import REPO
from tests.engine.running import engine_settings, eventually, serving
from tests.engine.test_schedule_restarts import a_lapsed_customer, schedule_fires

BERLIN = ZoneInfo("Europe/Berlin")
BEFORE_NINE = datetime(2026, 11, 23, 8, 59, 0, tzinfo=BERLIN)  # win-back fires at 09:00
JUST_BEFORE_NINE = datetime(2026, 11, 23, 8, 59, 59, 500000, tzinfo=BERLIN)
NINE = "win-back: schedule schedule:2026-11-23T09:00+01:00"
# churn-risk-win-back is scheduled at 09:00 as well: each of the two fires exactly once.
NINES = sorted([NINE, "churn-risk-win-back: schedule schedule:2026-11-23T09:00+01:00"])


def both_nines_fired(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    return lambda: set(NINES) <= set(schedule_fires(caplog))


def lock_holder(url: str) -> int | None:
    """The backend pid holding the schedule lock in this database (the lock is per database;
    other test runs may hold theirs), seen from a connection of the test's own."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            pid = connection.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid::bigint = :high AND objid::bigint = :low AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF},
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    return None if pid is None else int(pid)


def cut_the_lock_connection(url: str) -> int:
    """pg_terminate_backend on the lock holder's backend, as a server restart or a network
    cut would end it; the holder's pid."""
    pid = lock_holder(url)
    assert pid is not None, "nobody holds the schedule lock"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()
    return pid


@pytest.fixture
def two_databases(postgres_url: str) -> Iterator[tuple[Database, Database]]:
    """Two engines' own connections to one emptied PostgreSQL database."""
    first, second = Database(postgres_url), Database(postgres_url)
    empty_tables(first)
    yield first, second
    first.dispose()
    second.dispose()


def test_only_one_engine_leads_and_another_takes_over(
    two_databases: tuple[Database, Database],
) -> None:
    a, b = (Leadership(database) for database in two_databases)
    try:
        assert a.try_lead()
        assert not b.try_lead()
        assert (a.leading, b.leading) == (True, False)
        a.release()
        assert b.try_lead()
        assert not a.try_lead()
    finally:
        a.release()
        b.release()


def test_a_lost_lock_is_noticed_and_giving_it_back_does_not_fail(
    two_databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = (Leadership(database) for database in two_databases)
    try:
        assert a.try_lead()
        assert a.confirm()
        cut_the_lock_connection(two_databases[0].url)
        assert b.try_lead()  # the lock went with the session
        assert not a.confirm()
        assert not a.leading
        a.release()  # nothing to give back, nothing raised
        assert a.try_lead() is False
        assert "the connection holding the schedule lock failed" in caplog.text
        cut_the_lock_connection(two_databases[0].url)  # b's connection dies too ...
        b.release()  # ... and giving the lock back logs instead of failing
        assert "could not give back the schedule lock" in caplog.text
    finally:
        a.release()
        b.release()


def test_sqlite_always_leads(sqlite_database: Database) -> None:
    assert Leadership(sqlite_database).leading
    assert Leadership(sqlite_database).confirm()


async def test_an_engine_that_lost_its_lock_fires_nothing_and_another_takes_over(
    two_databases: tuple[Database, Database], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine")
    first, second = two_databases
    with time_machine.travel(BEFORE_NINE, tick=True) as traveller:
        a_lapsed_customer(first, BEFORE_NINE)
        # a's periodic check is far off: only the check before the fire can notice
        slow = engine_settings(tmp_path / "a", leadership_check_seconds=600)
        async with serving(Engine(slow, first, transport=MemoryTransport())) as a:
            assert a.schedules.holds_schedules
            cut_the_lock_connection(first.url)
            traveller.move_to(JUST_BEFORE_NINE)
            await eventually(lambda: not a.schedules.holds_schedules, "a to step down at 09:00")
            await asyncio.sleep(0.5)  # only gives a wrong fire the time to show
            assert schedule_fires(caplog) == []
            assert "lost the schedule lock" in caplog.text
            quick = engine_settings(tmp_path / "b", leadership_check_seconds=0.1)
            async with serving(Engine(quick, second, transport=MemoryTransport())) as b:
                assert b.schedules.holds_schedules
                await eventually(both_nines_fired(caplog), "b to run the 09:00 fires")
                await asyncio.sleep(0.5)  # only gives a wrong second fire the time to show
            assert not a.schedules.holds_schedules  # b held the lock all along
    assert sorted(schedule_fires(caplog)) == NINES


async def test_an_engine_that_lost_its_lock_takes_it_back_and_runs_the_fire_it_held_back(
    two_databases: tuple[Database, Database], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailengine")
    database = two_databases[0]
    with time_machine.travel(BEFORE_NINE, tick=True) as traveller:
        a_lapsed_customer(database, BEFORE_NINE)
        settings = engine_settings(tmp_path, leadership_check_seconds=1)
        async with serving(Engine(settings, database, transport=MemoryTransport())) as engine:
            lost = cut_the_lock_connection(database.url)
            traveller.move_to(JUST_BEFORE_NINE)
            await eventually(
                lambda: both_nines_fired(caplog)() and engine.schedules.holds_schedules,
                "the lock taken back and the 09:00 fire",
            )
            assert lock_holder(database.url) not in (None, lost)  # a new connection holds it
            cut_the_lock_connection(database.url)  # and dies just before shutting down
    assert sorted(schedule_fires(caplog)) == NINES
    assert "lost the schedule lock" in caplog.text
    assert "runs the schedules again" in caplog.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_mailengine_run_stops_cleanly_after_its_lock_connection_died(
    two_databases: tuple[Database, Database], tmp_path: Path
) -> None:
    url = two_databases[0].url
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
database: {{url: "{url}"}}
paths: {{workflows: "{REPO / "workflows"}", templates: "{REPO / "templates"}", var: "{tmp_path}",
  polls: "{REPO / "polls"}", questionnaires: "{REPO / "questionnaires"}"}}
smtp: {{port: {_free_port()}, capture: true}}
http: {{enabled: false}}
inbound: {{smtp: {{port: {_free_port()}}}}}
""",
        encoding="utf-8",
    )
    engine = subprocess.Popen(
        [sys.executable, "-m", "mailengine", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120  # start-up compiles every template first
        while lock_holder(url) is None and engine.poll() is None:
            assert time.monotonic() < deadline, "the engine never took the schedule lock"
            time.sleep(0.2)
        assert engine.poll() is None, engine.stdout.read() if engine.stdout else ""
        cut_the_lock_connection(url)
    finally:
        engine.send_signal(signal.SIGTERM)
        output, _ = engine.communicate(timeout=60)
    assert engine.returncode == 0, output
    assert "stopping" in output
