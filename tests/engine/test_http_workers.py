"""`mailengine run` with `http.workers: 2`: the API served from two processes beside the engine.

Started as a user starts it (a real process, real signals, mail into the capture server), on
SQLite and PostgreSQL. The engine's tick is two minutes: a confirmation that leaves within
seconds of its order was woken across the process boundary.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.databases import (
    opened_database,
    postgres_unavailable_reason,
    scratch_postgres_database,
)
from tests.engine.harness import REPO
from tests.engine.test_order_wakes_engine import ORDER, _mail_to
from tests.engine.test_run_process import _alive, _children, _free_port, _stop
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow
KEY = "me_workers-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shop.db'}"
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:  # a database of its own, dropped at the end
        yield url


def _start(
    folder: Path, url: str, port: int, *, workers: int = 2, engine: str = "tick_seconds: 120"
) -> subprocess.Popen[str]:
    """`mailengine run` with `workers` HTTP processes and these `engine` settings."""
    config = folder / "config.yaml"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    config.write_text(
        f"""
database: {{url: "{url}"}}
paths: {{workflows: "{REPO / "workflows"}", templates: "{REPO / "templates"}", var: "{folder}",
  polls: "{REPO / "polls"}", questionnaires: "{REPO / "questionnaires"}"}}
smtp: {{port: {_free_port()}, capture: true}}
http: {{port: {port}, public_url: "http://127.0.0.1:{port}", api_keys: ["{digest}"],
  workers: {workers}}}
inbound: {{smtp: {{port: {_free_port()}}}}}
engine: {{{engine}}}
""",
        encoding="utf-8",
    )
    with opened_database(url) as database:  # here: a process of its own costs seconds
        database.upgrade()
    return subprocess.Popen(
        [sys.executable, "-m", "mailengine", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _healthy(port: int, engine: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        assert engine.poll() is None, engine.stdout.read() if engine.stdout else ""
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            if answer.status_code == 200:
                return answer
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the API did not answer healthy in time")


def _workers(engine: int, count: int = 2) -> set[int]:
    deadline = time.monotonic() + PATIENCE
    found: set[int] = set()
    while time.monotonic() < deadline:
        found = {pid for pid in _children(engine) if _alive(pid)}
        if len(found) == count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} worker processes expected, found {found}")


def _post_events(port: int, keys: list[str]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as client:
        for key in keys:
            answer = client.post(
                "/v1/events",
                json={"type": "product.viewed", "email": ORDER["email"], "data": {"key": key}},
                headers={"Idempotency-Key": key},
            )
            assert answer.status_code == 202, answer.text


def _stored_keys(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT idempotency_key, count(*) FROM event WHERE idempotency_key LIKE "
                "'%workers-%' GROUP BY idempotency_key"
            )
        ).all()
    engine.dispose()
    return {str(key).rpartition(":")[2]: int(count) for key, count in rows}


def test_two_http_workers_store_once_wake_the_engine_come_back_and_stop_with_it(
    tmp_path: Path, database_url: str
) -> None:
    port = _free_port()
    engine = _start(tmp_path, database_url, port)
    inbox = tmp_path / "mail" / "new"
    try:
        health = _healthy(port, engine)
        assert health.json()["scheduler"] == "running"  # from the engine's heartbeat
        workers = _workers(engine.pid)
        time.sleep(2)  # the start-up tick is over: the next one is two minutes away
        posted = time.monotonic()
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/orders", json=ORDER, headers=AUTH)
        assert answer.status_code == 201, answer.text
        while time.monotonic() - posted < 60 and not _mail_to(inbox, str(ORDER["email"])):
            time.sleep(0.2)
        waited = time.monotonic() - posted
        mail = _mail_to(inbox, str(ORDER["email"]))
        assert mail and "Subject: Thank you for your order" in mail
        assert waited < 20, f"the confirmation left {waited:.1f} s after the order"
        keys = [f"workers-{n}" for n in range(40)]
        _post_events(port, keys + keys[:10])  # ten sent twice
        # kill -9 one worker: another takes its place and the API answers again
        os.kill(min(workers), signal.SIGKILL)
        _post_events(port, ["workers-after-kill"])  # the other worker answers meanwhile
        replaced = _workers(engine.pid) - workers
        assert len(replaced) == 1, replaced
        _healthy(port, engine)
        running = _workers(engine.pid)
    finally:
        output = _stop(engine)
    assert engine.returncode == 0, output
    assert f"HTTP API, unsubscribe pages and tracking on http://127.0.0.1:{port}" in output
    assert "HTTP served by 2 worker processes" in output
    assert "ended (exit code -9); starting it again" in output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in running):
        time.sleep(0.1)
    assert not [pid for pid in running if _alive(pid)], "worker processes outlived the engine"
    stored = _stored_keys(database_url)
    assert stored == {key: 1 for key in [*keys, "workers-after-kill"]}


def test_http_workers_stop_by_themselves_when_the_engine_is_killed(tmp_path: Path) -> None:
    port = _free_port()
    engine = _start(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", port)
    workers: set[int] = set()
    try:
        _healthy(port, engine)
        workers = _workers(engine.pid)
    finally:
        engine.kill()  # kill -9: the engine cannot tell them to stop
        engine.communicate(timeout=PATIENCE)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived the engine"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
