"""A shop for bench/faults.py: mail planned in a database, `mailengine run` processes sending
it to a peer on 127.0.0.1, time-scaled settings, and a PostgreSQL outage on cue.

Settings go to the engines as MAILENGINE_* variables, as an operator would set them. Only
keys this version of `mailengine.config` knows are passed (`scaled_settings`): the script
runs on versions with and without newer knobs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.fault_peer import AFFECTED_DOMAIN
from mailengine.clock import SystemClock
from mailengine.config import ENV_PREFIX, Settings, env_name
from mailengine.engine.dispatch_processes import dispatch_options
from mailengine.outbound.dispatcher import DispatchOptions
from mailengine.store.database import Database
from mailengine.store.outbox import count_by_state
from tests.databases import POSTGRES_URL, postgres_unavailable_reason, scratch_postgres_database
from tests.delivery.mass_send import (
    customer_address,
    plan_for_consenting_customers,
    write_note_template,
)

REPO = Path(__file__).resolve().parents[1]
SECRET = "fault-bench-secret-0123456789abcdef"
TIME_SCALED: dict[str, object] = {
    "engine.tick_seconds": 0.5,
    "smtp.timeout_seconds": 10,  # each SMTP stage (today: every wait is capped by it)
    "smtp.message_timeout_seconds": 20,  # one whole transaction, where known
    "engine.lease_seconds": 60,  # where known; today's lease is fixed
    "smtp.per_domain_connections": 2,  # where known: a slow domain holds at most this many
}
"""What the scenarios run with: scaled down as tests scale them (RFC 5321's stage timeouts
and a 10-minute lease would make a run last an hour)."""


def known_setting(dotted: str) -> bool:
    """Whether this version's settings have the key (`smtp.timeout_seconds`)."""
    model: type[BaseModel] = Settings
    *sections, name = dotted.split(".")
    for section in sections:
        annotation = (
            model.model_fields[section].annotation if section in model.model_fields else None
        )
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return name in model.model_fields


def scaled_settings(wanted: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """The MAILENGINE_* variables for the keys of `wanted` this version knows (and whose
    values it accepts), and the keys left out, each with why."""
    variables: dict[str, str] = {}
    left_out: list[str] = []
    for dotted, value in wanted.items():
        if not known_setting(dotted):
            left_out.append(f"{dotted} (not a setting of this version)")
            continue
        try:
            Settings.model_validate(_nested(dotted, value))
        except ValidationError as error:
            left_out.append(f"{dotted}={value} ({error.errors()[0]['msg']})")
            continue
        variables[env_name(tuple(dotted.split(".")))] = str(value)
    return variables, left_out


def _nested(dotted: str, value: object) -> dict[str, Any]:
    *sections, name = dotted.split(".")
    data: dict[str, Any] = {name: value}
    for section in reversed(sections):
        data = {section: data}
    return data


def engine_settings(variables: Mapping[str, str]) -> Settings:
    """The settings an engine started with these MAILENGINE_* variables reads."""
    data: dict[str, Any] = {}
    for name, value in variables.items():
        key = name.removeprefix(ENV_PREFIX).lower()
        _merge(data, _nested(key.replace("__", "."), value))
    return Settings.model_validate(data)


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


def engine_dispatch(variables: Mapping[str, str]) -> DispatchOptions:
    """The lease and retry times the engine's dispatcher runs with, as it builds them."""
    return dispatch_options(engine_settings(variables))


def affected_address(number: int) -> str:
    """A tenth of the customers have their mail on the misbehaving peer's domain."""
    if number % 10 == 0:
        return f"kunde{number}@{AFFECTED_DOMAIN}"
    return customer_address(number)


@dataclass
class EngineProcess:
    """One `mailengine run`; its output in `log`."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self, grace: float = 60.0) -> int | None:
        """SIGTERM and wait; killed after `grace` seconds. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Shop:
    """A database with `expected` (recipient -> Message-ID) planned, and its engines."""

    folder: Path
    url: str
    port: int
    variables: dict[str, str]
    expected: dict[str, str]
    engines: list[EngineProcess] = field(default_factory=list)

    def start_engine(self, name: str) -> EngineProcess:
        config = self.folder / f"{name}.yaml"
        config.write_text(
            f"""database: {{url: "{self.url}"}}
paths:
  workflows: "{self.folder / "workflows"}"
  templates: "{self.folder / "templates"}"
  var: "{self.folder / f"var-{name}"}"
smtp: {{host: 127.0.0.1, port: {self.port}, capture: false}}
http: {{enabled: false}}
inbound: {{smtp: {{enabled: false}}}}
""",
            encoding="utf-8",
        )
        log = self.folder / f"{name}.log"
        environment = {**_without_mailengine(os.environ), **self.variables}
        environment.update(MAILENGINE_SECRET_KEY=SECRET, PYTHONUNBUFFERED="1")
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailengine", "--config", str(config), "run"],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=REPO,
            )
        engine = EngineProcess(name, process, log)
        self.engines.append(engine)
        return engine

    def stop_engines(self) -> None:
        for engine in self.engines:
            engine.stop()

    def states(self) -> dict[str, int]:
        database = Database(self.url)
        try:
            with database.session() as session:
                return count_by_state(session)
        finally:
            database.dispose()


def _without_mailengine(environment: Mapping[str, str]) -> dict[str, str]:
    """The environment without the caller's own MAILENGINE_* settings."""
    return {k: v for k, v in environment.items() if not k.startswith("MAILENGINE_")}


def prepare_shop(
    folder: Path,
    url: str,
    port: int,
    messages: int,
    variables: dict[str, str],
    address: Callable[[int], str] = customer_address,
) -> Shop:
    """Migrate the database and plan `messages` notes, one per consenting customer."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workflows").mkdir(exist_ok=True)
    write_note_template(folder / "templates")
    database = Database(url)
    try:
        database.upgrade()
        expected = plan_for_consenting_customers(database, messages, SystemClock().now(), address)
    finally:
        database.dispose()
    return Shop(folder, url, port, variables, expected)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A database of its own on the test PostgreSQL server, dropped afterwards; None (and
    the reason printed) where none is reachable."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        print(f"skipped: {reason}", flush=True)
        yield None
        return
    with scratch_postgres_database() as url:
        yield url


_TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = :name AND pid <> pg_backend_pid()"
)


async def database_outage(url: str, seconds: float) -> float:
    """Cut every connection to the database at `url` and refuse new ones for `seconds`;
    returns when (time.monotonic()) it took connections again."""
    name = make_url(url).database
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def run(statement: str, **values: str) -> None:
        with admin.connect() as connection:
            connection.execute(text(statement), values)

    try:
        await asyncio.to_thread(run, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await asyncio.to_thread(run, _TERMINATE, name=str(name))
        await asyncio.sleep(seconds)
    finally:
        await asyncio.to_thread(run, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.dispose()
    return time.monotonic()


def describe_dispatch(options: DispatchOptions) -> str:
    def seconds(delta: timedelta | None) -> str:
        return "twice the longest send" if delta is None else f"{delta.total_seconds():.0f} s"

    return f"lease {seconds(options.lease)}, first retry after {seconds(options.first_retry)}"
