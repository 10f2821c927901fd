"""kill -9 a dispatching `mailengine run` (or one of its dispatcher processes): what the dead
process held is taken up again within seconds, not after the lease; nothing is lost, and
only what was on its connections can arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailengine.store.database import Database
from tests.delivery.mass_send import (
    MessageIdRecorder,
    plan_for_consenting_customers,
    write_note_template,
)
from tests.engine.crash_peers import (
    dispatcher_children,
    held_by,
    logs,
    mailengine,
    outbox_states,
    write_config,
)
from tests.transport.conftest import SmtpServer, start_server

pytestmark = pytest.mark.slow

MESSAGES = 800
CONNECTIONS = 4
RESUME_WITHIN = 30.0


@pytest.fixture
async def server() -> AsyncIterator[SmtpServer]:
    """Takes 10 ms per message before its 250, as a server writing to disk does."""
    server = await start_server(MessageIdRecorder(pause=0.01))
    yield server
    await server.close()


async def _prepared(folder: Path, server: SmtpServer, engine: str) -> tuple[Path, dict[str, str]]:
    """A migrated database with MESSAGES planned sends; returns the config and the plan."""
    config = write_config(folder, server.port, engine, write_note_template(folder / "templates"))
    upgrade = await mailengine(config, "db", "upgrade")
    assert await upgrade.wait() == 0, logs(folder)
    database = Database(f"sqlite:///{folder / 'shop.db'}")
    try:
        # `mailengine run` under test reads the wall clock: mail planned at its "now" is due
        # to it at once, whatever the date.
        now = datetime.now(UTC)  # not frozen, on purpose (see above)
        expected = plan_for_consenting_customers(database, MESSAGES, now)
    finally:
        database.dispose()
    return config, expected


async def _until(condition: object, within: float, what: str, folder: Path) -> float:
    """Wait until `condition()` holds; returns the seconds it took."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > within:
            raise AssertionError(f"{what} did not happen within {within:.0f} s\n{logs(folder)}")
        await asyncio.sleep(0.05)
    return loop.time() - started


async def _stop(engine: asyncio.subprocess.Process, folder: Path) -> None:
    if engine.returncode is None:
        engine.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(engine.wait(), 60)
        except TimeoutError:
            engine.kill()
            await engine.wait()
    assert engine.returncode == 0, logs(folder)


def _check_delivery(recorder: MessageIdRecorder, expected: dict[str, str], repeats: int) -> None:
    arrivals = Counter(recorder.arrivals)
    assert set(arrivals) == set(expected.items())  # nothing lost, each with its Message-ID
    assert sum(count - 1 for count in arrivals.values()) <= repeats


async def test_a_killed_engine_resumes_what_it_held_within_seconds_of_a_restart(
    tmp_path: Path, server: SmtpServer
) -> None:
    recorder = server.handler
    assert isinstance(recorder, MessageIdRecorder)
    config, expected = await _prepared(tmp_path, server, "tick_seconds: 0.5")
    database = tmp_path / "shop.db"
    first = await mailengine(config, "run")
    try:
        await _until(lambda: len(recorder.arrivals) >= MESSAGES // 4, 60, "sending", tmp_path)
    finally:
        first.kill()
        await first.wait()
    held = held_by(database, first.pid)
    assert held > 0  # the kill left rows claimed by the dead engine
    before = len(recorder.arrivals)
    second = await mailengine(config, "run")
    try:
        resumed = await _until(lambda: len(recorder.arrivals) > before, 60, "resume", tmp_path)
        assert resumed < RESUME_WITHIN
        assert held_by(database, first.pid) == 0  # taken up at start, not after the lease
        await _until(lambda: outbox_states(database)["sent"] == MESSAGES, 60, "all", tmp_path)
    finally:
        await _stop(second, tmp_path)
    _check_delivery(recorder, expected, repeats=CONNECTIONS)


async def test_a_killed_dispatcher_process_is_replaced_and_its_rows_resume_within_seconds(
    tmp_path: Path, server: SmtpServer
) -> None:
    recorder = server.handler
    assert isinstance(recorder, MessageIdRecorder)
    config, expected = await _prepared(tmp_path, server, "tick_seconds: 0.5, dispatch_processes: 2")
    database = tmp_path / "shop.db"
    engine = await mailengine(config, "run")
    try:
        await _until(lambda: len(recorder.arrivals) >= MESSAGES // 4, 60, "sending", tmp_path)
        victim = min(dispatcher_children(engine.pid))
        os.kill(victim, signal.SIGKILL)
        assert held_by(database, victim) > 0
        await _until(lambda: held_by(database, victim) == 0, RESUME_WITHIN, "hand-back", tmp_path)
        await _until(lambda: outbox_states(database)["sent"] == MESSAGES, 60, "all", tmp_path)
    finally:
        await _stop(engine, tmp_path)
    _check_delivery(recorder, expected, repeats=CONNECTIONS // 2)
