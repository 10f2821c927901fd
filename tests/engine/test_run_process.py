"""`mailengine run` as a user starts it: real capture server, real signals, a real process."""

from __future__ import annotations

import email
import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.engine.harness import REPO
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _mailengine(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailengine", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _start_engine(
    folder: Path, settings: str, *, customers: int, seed: int
) -> subprocess.Popen[str]:
    """`mailengine run` on a new SQLite database in `folder` with demo customers; `settings`
    are YAML lines added to the database and paths."""
    config = folder / "config.yaml"
    config.write_text(
        f"""
database: {{url: "sqlite:///{folder / "shop.db"}"}}
paths: {{workflows: "{REPO / "workflows"}", templates: "{REPO / "templates"}", var: "{folder}",
  polls: "{REPO / "polls"}", questionnaires: "{REPO / "questionnaires"}"}}
{settings}""",
        encoding="utf-8",
    )
    assert _mailengine(config, "db", "upgrade").returncode == 0
    seeded = _mailengine(config, "demo-data", "--customers", str(customers), "--seed", str(seed))
    assert seeded.returncode == 0, seeded.stderr
    return subprocess.Popen(
        [sys.executable, "-m", "mailengine", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _stop(engine: subprocess.Popen[str]) -> str:
    """SIGTERM, as a user stops it; its output. Killed if it does not stop (the test fails)."""
    engine.send_signal(signal.SIGTERM)
    try:
        output, _ = engine.communicate(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        engine.kill()
        output, _ = engine.communicate()
        raise AssertionError(f"the engine did not stop on SIGTERM:\n{output}") from None
    return output


def _subjects(folder: Path) -> list[str]:
    subjects = []
    for path in folder.glob("*"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Subject: "):
                subjects.append(line[len("Subject: ") :])
                break
    return subjects


def _a_customer_with_orders(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT email FROM customer WHERE orders_count > 0 ORDER BY id LIMIT 1"
        ).fetchone()
    return str(row[0])


def test_run_captures_welcome_and_thank_you_mails_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    http_port, inbound_port = _free_port(), _free_port()
    engine = _start_engine(
        tmp_path,
        f"""
smtp: {{port: {_free_port()}, capture: true}}
http: {{port: {http_port}, public_url: "http://127.0.0.1:{http_port}"}}
inbound: {{smtp: {{port: {inbound_port}}}}}
engine: {{tick_seconds: 0.5}}
studio: {{enabled: true}}
""",
        customers=200,
        seed=2,
    )
    inbox = tmp_path / "mail" / "new"
    try:
        deadline = time.monotonic() + PATIENCE
        subjects: list[str] = []
        while time.monotonic() < deadline:
            subjects = _subjects(inbox) if inbox.exists() else []
            welcome = [s for s in subjects if s.startswith("Welcome to Example Shop")]
            thanks = [s for s in subjects if s.startswith("Thank you for your order")]
            if welcome and thanks:
                break
            assert engine.poll() is None, engine.stdout.read() if engine.stdout else ""
            time.sleep(0.5)
        assert welcome, subjects
        assert thanks, subjects
        health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        studio = httpx.get(f"http://127.0.0.1:{http_port}/studio/login", timeout=10)
        assert studio.status_code == 200 and "Log in" in studio.text
        # One-click unsubscribe (RFC 8058) from a captured mail's List-Unsubscribe header.
        mail = next(p for p in inbox.glob("*") if "Welcome to" in p.read_text(errors="replace"))
        header = email.message_from_bytes(mail.read_bytes())["List-Unsubscribe"]
        url = header.split(",")[0].strip().strip("<>")
        answer = httpx.post(
            url, data={"List-Unsubscribe": "One-Click"}, timeout=10, follow_redirects=False
        )
        assert answer.status_code == 200, answer.text
        # A customer writes to support and gets a personal acknowledgement at once.
        customer = _a_customer_with_orders(tmp_path / "shop.db")
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=10) as client:
            client.sendmail(
                customer,
                ["support@shop.example"],
                (
                    f"From: {customer}\r\nTo: support@shop.example\r\n"
                    "Subject: Where is my parcel?\r\nMessage-ID: <q1@customer.example>\r\n"
                    "\r\nHello, when does my order ship?\r\n"
                ).encode(),
            )
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if any("Where is my parcel" in s and "[T-" in s for s in _subjects(inbox)):
                break
            time.sleep(0.5)
        replies = [s for s in _subjects(inbox) if "Where is my parcel" in s]
        assert any(s.startswith("[T-") or "[T-" in s for s in replies), replies
        reloaded = _mailengine(config, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        time.sleep(1)
        assert engine.poll() is None  # SIGHUP reloads; it does not stop the engine
    finally:
        output = _stop(engine)
    assert engine.returncode == 0, output
    assert "stopping" in output
    assert f"studio on http://127.0.0.1:{http_port}/studio/" in output
    assert not (tmp_path / "mailengine.pid").exists()


def _children(pid: int) -> set[int]:
    """The engine's dispatcher processes (not multiprocessing's resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _outbox_states(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
    return {str(state): int(count) for state, count in rows}


def _start_with_two_dispatchers(
    folder: Path, *, customers: int, seed: int
) -> subprocess.Popen[str]:
    return _start_engine(
        folder,
        f"""
smtp: {{port: {_free_port()}, capture: true, connections: 4}}
http: {{enabled: false}}
inbound: {{smtp: {{port: {_free_port()}}}}}
engine: {{tick_seconds: 0.5, dispatch_processes: 2}}
""",
        customers=customers,
        seed=seed,
    )


def _wait_for_two_dispatchers(engine: int) -> set[int]:
    deadline = time.monotonic() + PATIENCE
    dispatchers: set[int] = set()
    while time.monotonic() < deadline and len(dispatchers) < 2:
        dispatchers = {p for p in _children(engine) if _alive(p)}
        time.sleep(0.2)
    assert len(dispatchers) == 2, dispatchers
    return dispatchers


def test_dispatch_processes_send_every_mail_once_come_back_when_killed_and_stop_with_it(
    tmp_path: Path,
) -> None:
    engine = _start_with_two_dispatchers(tmp_path, customers=300, seed=3)
    inbox = tmp_path / "mail" / "new"
    try:
        _wait_for_two_dispatchers(engine.pid)
        deadline = time.monotonic() + PATIENCE
        settled_since = time.monotonic()
        states: dict[str, int] = {}
        last: dict[str, int] = {}
        while time.monotonic() < deadline:  # until the outbox rests for 3 s, all of it final
            states = _outbox_states(tmp_path / "shop.db")
            if states != last or not set(states) <= {"sent", "suppressed", "failed"}:
                settled_since, last = time.monotonic(), states
            elif time.monotonic() - settled_since > 3:
                break
            assert engine.poll() is None, engine.stdout.read() if engine.stdout else ""
            time.sleep(0.3)
        assert states.get("sent", 0) >= 10, states
        assert set(states) <= {"sent", "suppressed", "failed"}, states
        # kill -9 one dispatcher process: the engine starts another in its place
        before = {p for p in _children(engine.pid) if _alive(p)}
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + PATIENCE
        replaced: set[int] = set()
        while time.monotonic() < deadline and not replaced:
            replaced = {p for p in _children(engine.pid) if _alive(p)} - before
            time.sleep(0.5)
        assert replaced, "no dispatcher process was started in place of the killed one"
        running = {p for p in _children(engine.pid) if _alive(p)}
    finally:
        output = _stop(engine)
    assert engine.returncode == 0, output
    assert "sending from 2 dispatcher processes" in output
    assert "ended (exit code -9)" in output
    assert "dispatcher process stopped:" in output  # each stopped cleanly, not killed
    time.sleep(0.5)
    assert not [p for p in running if _alive(p)], "dispatcher processes outlived the engine"
    message_ids: list[str] = []
    for path in inbox.glob("*"):
        found = email.message_from_bytes(path.read_bytes())["Message-ID"]
        message_ids.append(str(found))
    assert len(message_ids) == len(set(message_ids))  # no message twice
    assert len(message_ids) == _outbox_states(tmp_path / "shop.db")["sent"]


def test_dispatch_processes_stop_by_themselves_when_the_engine_is_killed(tmp_path: Path) -> None:
    engine = _start_with_two_dispatchers(tmp_path, customers=20, seed=4)
    dispatchers: set[int] = set()
    try:
        dispatchers = _wait_for_two_dispatchers(engine.pid)
    finally:
        engine.kill()  # kill -9: the engine cannot tell them to stop
        engine.communicate(timeout=PATIENCE)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and any(_alive(p) for p in dispatchers):
        time.sleep(0.2)
    assert not [p for p in dispatchers if _alive(p)], "dispatcher processes outlived the engine"
