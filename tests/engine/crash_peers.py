"""`mailengine run` as a process to kill: its config, its processes, and a server counting
what arrives (with the Message-ID), for the tests that kill -9 a dispatching engine."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from tests.engine.harness import REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, smtp_port: int, engine: str, templates: Path) -> Path:
    """A config sending over the test's server on `smtp_port`, with no workflows of its own
    (the outbox is planned by the test) and no HTTP or inbound servers."""
    workflows = folder / "workflows"
    workflows.mkdir(exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(
        f"""
database: {{url: "sqlite:///{folder / "shop.db"}"}}
paths: {{workflows: "{workflows}", templates: "{templates}", var: "{folder}"}}
smtp: {{port: {smtp_port}, capture: false, connections: 4}}
http: {{enabled: false}}
inbound: {{smtp: {{enabled: false}}}}
engine: {{{engine}}}
""",
        encoding="utf-8",
    )
    return config


async def mailengine(config: Path, *args: str) -> asyncio.subprocess.Process:
    """`mailengine --config CONFIG ARGS...`, its output to a file beside the config."""
    with (config.parent / f"{args[0]}-{os.urandom(3).hex()}.log").open("wb") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mailengine",
            "--config",
            str(config),
            *args,
            cwd=REPO,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def logs(folder: Path) -> str:
    return "\n".join(path.read_text(errors="replace")[-4000:] for path in folder.glob("*.log"))


def outbox_states(database: Path) -> Counter[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
    return Counter({str(state): int(count) for state, count in rows})


def held_by(database: Path, pid: int) -> int:
    """Messages claimed by a dispatcher of process `pid` (holders read `host:pid:nonce`)."""
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM outbox WHERE state = 'sending' AND claimed_by LIKE ?",
            (f"%:{pid}:%",),
        ).fetchone()
    return int(count)


def dispatcher_children(pid: int) -> set[int]:
    """The live dispatcher processes of the engine `pid` (not multiprocessing's helpers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found
