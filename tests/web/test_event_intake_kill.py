"""`mailengine run` killed with SIGKILL while the shop's backend is sending events: every
event answered 202 is stored exactly once, and the retries after the restart add nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from tests.engine.test_run_process import _free_port, _start_engine, _stop
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow
KEY = "me_kill-test-key"
CLIENT = hashlib.sha256(KEY.encode()).hexdigest()


def _start(folder: Path, port: int) -> subprocess.Popen[str]:
    return _start_engine(
        folder,
        f"""
smtp: {{port: {_free_port()}, capture: true}}
http: {{port: {port}, public_url: "http://127.0.0.1:{port}", api_keys: ["{CLIENT}"]}}
inbound: {{smtp: {{port: {_free_port()}}}}}
engine: {{tick_seconds: 0.5}}
""",
        customers=50,
        seed=3,
    )


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("mailengine run did not answer")


async def _send(
    port: int, numbers: Sequence[int], stop_after: int | None, pid: int
) -> dict[int, int]:
    """POST the events (40 at a time); event number -> event id of each 202. With
    `stop_after`, the engine is killed as soon as that many were answered."""
    accepted: dict[int, int] = {}
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(number: int) -> None:
            headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": f"k-{number}"}
            body = {"type": "product.viewed", "email": f"kill{number % 13}@example.com",
                    "data": {"n": number}}  # fmt: skip
            try:
                answer = await client.post(
                    f"http://127.0.0.1:{port}/v1/events", json=body, headers=headers
                )
            except httpx.HTTPError:
                return
            if answer.status_code == 202:
                accepted[number] = answer.json()["event_id"]
                if stop_after is not None and len(accepted) == stop_after:
                    os.kill(pid, signal.SIGKILL)

        await asyncio.gather(*(one(number) for number in numbers))
    return accepted


def _stored(database: Path) -> dict[str, list[int]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT idempotency_key, id FROM event WHERE idempotency_key LIKE 'event:%'"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for key, event_id in rows:
        found.setdefault(str(key), []).append(int(event_id))
    return found


def test_every_event_answered_before_a_kill_is_stored_once(tmp_path: Path) -> None:
    port = _free_port()
    engine = _start(tmp_path, port)
    try:
        _wait_until_up(port)
        before = asyncio.run(_send(port, range(600), 300, engine.pid))
    finally:
        engine.kill()
        engine.communicate()
    assert len(before) >= 300
    stored = _stored(tmp_path / "shop.db")
    prefix = f"event:{CLIENT[:16]}:k-"
    for number, event_id in before.items():
        assert stored.get(f"{prefix}{number}") == [event_id], number  # stored, and once
    engine = _start(tmp_path, port)
    try:
        _wait_until_up(port)
        after: dict[int, int] = {}
        for _ in range(5):  # a backend retries what got no answer (a loaded machine is slow)
            missing = [number for number in range(600) if number not in after]
            if not missing:
                break
            after |= asyncio.run(_send(port, missing, None, engine.pid))
    finally:
        _stop(engine)
    assert len(after) == 600
    assert all(after[number] == event_id for number, event_id in before.items())  # replays
    stored = _stored(tmp_path / "shop.db")
    assert sorted(stored) == sorted(f"{prefix}{number}" for number in range(600))
    assert all(len(ids) == 1 for ids in stored.values())
