"""A shop whose broadcasts the real `mailengine run` sends, for the end-to-end tests.

The engine runs as its own process (`tests.broadcasts.clocked_mailengine`) on a clock the test
moves, sends over SMTP to a sink on 127.0.0.1 (port 0) in the test's event loop, and serves its
HTTP (unsubscribe, tracking) on a free loopback port. The test steers it the way people do:
`mailengine broadcast schedule | pause | resume | cancel | report | test`, through the
command's entry point at the same instant as the engine's clock; customers and the mail they
had before are stored directly, as an import would.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import func, select, update

from mailengine.clock import FrozenClock
from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from tests.broadcasts.clocked_mailengine import move_clock
from tests.cli.conftest import Outcome, mailengine
from tests.conftest import NOW
from tests.engine.crash_peers import free_port
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server
from tests.waiting import PATIENCE, NotInTime

REPO = Path(__file__).resolve().parents[2]
SECRET = "broadcast-e2e-secret-0123456789abcdef"
_HEADERS = BytesHeaderParser(policy=default_policy)
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)
# A short template, for the tests about delivery rather than rendering.
NOTE = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hallo {{ customer.first_name | default('du') }},
          {% if broadcast %}{{ broadcast.content.line }}{% endif %}</mj-text>
        <mj-text><a href="{{ links.unsubscribe_url }}">Abmelden</a>
          {{ sender.postal_address }}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


@dataclass
class Arrival:
    """A message the sink accepted: for whom, its Message-ID, its header block (and its
    whole text when the sink keeps bodies)."""

    recipient: str
    message_id: str
    headers: bytes
    data: bytes | None

    def message(self) -> EmailMessage:
        found = email.message_from_bytes(self.data or self.headers, policy=default_policy)
        assert isinstance(found, EmailMessage)
        return found

    @cached_property
    def subject(self) -> str:
        """The decoded Subject, read from the headers once, when first asked for."""
        return str(_HEADERS.parsebytes(self.headers + b"\r\n\r\n")["Subject"])


class Sink(RecordingHandler):
    """Keeps every arrival in order. `pause` seconds pass before each 250 (a server that
    writes to disk first), so that a send is under way long enough to pause or kill it."""

    def __init__(self, pause: float = 0.0, keep_bodies: bool = True) -> None:
        super().__init__()
        self.pause = pause
        self.keep_bodies = keep_bodies
        self.arrivals: list[Arrival] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        assert isinstance(envelope.content, bytes)
        headers = envelope.content.partition(b"\r\n\r\n")[0]
        found = _MESSAGE_ID.search(headers)
        message_id = found[1].decode("ascii") if found else ""
        for recipient in envelope.rcpt_tos:
            body = envelope.content if self.keep_bodies else None
            self.arrivals.append(Arrival(recipient, message_id, headers, body))
        if self.pause:
            await asyncio.sleep(self.pause)
        return "250 2.0.0 OK: queued"

    def to(self, recipient: str) -> list[Arrival]:
        return [arrival for arrival in self.arrivals if arrival.recipient == recipient]

    def counts(self) -> Counter[str]:
        return Counter(arrival.recipient for arrival in self.arrivals)


@dataclass
class EngineProcess:
    """One `mailengine run`; its output goes to `log`."""

    process: asyncio.subprocess.Process
    log: Path
    http_port: int

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def stop(self) -> str:
        """SIGTERM, as people stop it; it must end cleanly. Its output."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), PATIENCE)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode == 0, self.output()[-4000:]
        return self.output()

    async def kill(self) -> None:
        """kill -9."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@dataclass
class EngineShop:
    """A folder with config, templates and broadcasts, a database, a sink and a clock."""

    folder: Path
    url: str
    sink: SmtpServer
    now: datetime
    database: Database = field(init=False)
    engines: list[EngineProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("templates", "broadcasts", "workflows"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / "templates", self.folder / "templates", dirs_exist_ok=True)
        for asked in ("polls", "questionnaires"):
            shutil.copytree(REPO / asked, self.folder / asked, dirs_exist_ok=True)
        (self.folder / "templates" / "mass").mkdir(exist_ok=True)
        (self.folder / "templates" / "mass" / "note.mjml").write_text(NOTE, encoding="utf-8")
        self.move_to(self.now)
        self.config, _ = self.write_config("cli")
        upgraded = self.cli_now("db", "upgrade")
        assert upgraded.code == 0, upgraded.err
        self.database = Database(self.url)

    @property
    def handler(self) -> Sink:
        assert isinstance(self.sink.handler, Sink)
        return self.sink.handler

    @property
    def clock_file(self) -> Path:
        return self.folder / "clock.txt"

    def move_to(self, moment: datetime) -> None:
        """The engines' clock (and the commands') says `moment` from now on."""
        self.now = moment
        move_clock(self.clock_file, moment)

    def advance(self, delta: timedelta) -> None:
        self.move_to(self.now + delta)

    def write_config(self, name: str) -> tuple[Path, int]:
        """config-NAME.yaml: this shop's database and folders, mail to the sink, HTTP on a
        free port (returned with the path), no inbound server, a tick of 0.2 s."""
        port = free_port()
        config = self.folder / f"config-{name}.yaml"
        config.write_text(
            f"""
database: {{url: "{self.url}"}}
paths: {{workflows: "{self.folder / "workflows"}", templates: "{self.folder / "templates"}",
        broadcasts: "{self.folder / "broadcasts"}", var: "{self.folder / f"var-{name}"}"}}
smtp: {{host: 127.0.0.1, port: {self.sink.port}, capture: false, connections: 4}}
http: {{host: 127.0.0.1, port: {port}, public_url: "http://127.0.0.1:{port}"}}
inbound: {{smtp: {{enabled: false}}}}
engine: {{tick_seconds: 0.2}}
timezone: Europe/Berlin
""",
            encoding="utf-8",
        )
        return config, port

    def write_broadcast(self, name: str, text: str) -> None:
        (self.folder / "broadcasts" / f"{name}.yaml").write_text(text, encoding="utf-8")

    # The commands

    def cli_now(self, *args: str, stdin: str | None = None) -> Outcome:
        """`mailengine --config ... ARGS` at the clock's instant."""
        env: dict[str, str | None] = {"MAILENGINE_SECRET_KEY": SECRET}
        argv = ["--config", str(self.config), *args]
        return mailengine(argv, FrozenClock(self.now), env, stdin)

    async def cli(self, *args: str, stdin: str | None = None) -> Outcome:
        """`cli_now` on a thread: the sink goes on receiving meanwhile."""
        return await asyncio.to_thread(self.cli_now, *args, stdin=stdin)

    # The engine

    async def start_engine(self, name: str = "engine") -> EngineProcess:
        """`mailengine run` with config-NAME.yaml, once its HTTP side answers."""
        config, port = self.write_config(name)
        log = self.folder / f"{name}-{len(self.engines)}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.broadcasts.clocked_mailengine",
                str(self.clock_file), "--config", str(config), "run",
                cwd=REPO, stdout=output, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "MAILENGINE_SECRET_KEY": SECRET},
            )  # fmt: skip
        started = EngineProcess(process, log, port)
        self.engines.append(started)
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = asyncio.get_running_loop().time() + PATIENCE
            while True:
                if process.returncode is not None:
                    ended = process.returncode
                    raise AssertionError(f"{name} ended ({ended}):\n{started.output()}")
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return started
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise NotInTime(f"{name} did not start:\n{started.output()}")
                await asyncio.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(engine.output()[-3000:] for engine in self.engines)

    async def until(
        self, condition: Callable[[], bool], what: str, within: float = PATIENCE
    ) -> None:
        """Until `condition()` holds (checked every 50 ms: often enough, and leaving the
        machine to the engine); fail naming `what`, with the
        engines' output, after `within` seconds or when an engine ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            ended = [e for e in self.engines if e.process.returncode not in (None, 0, -9)]
            if ended or loop.time() > deadline:
                raise NotInTime(f"{what}: not within {within:.0f} s\n{self.logs()}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for engine in self.engines:
            await engine.kill()
        self.database.dispose()

    # The data

    def add_customers(
        self, people: Iterable[tuple[str, str, str | None]], consent: str = "granted"
    ) -> dict[str, int]:
        """Customers (address, first name, time zone) with `consent`; their ids by address."""
        statement = ConsentStatement(consent, "checkout", self.now - timedelta(days=30))
        records = [
            CustomerUpsert(
                email=address,
                fields={"first_name": first, "timezone": zone, "locale": "de_DE"},
                consent=statement,
            )
            for address, first, zone in people
        ]
        ids: dict[str, int] = {}
        for start in range(0, len(records), 2000):
            with self.database.transaction() as session:
                done = upsert_customers(session, records[start : start + 2000], self.now)
            ids.update(done.customer_ids)
        return ids

    def earlier_mail(
        self, recipient: str, customer_id: int, key: str, at: datetime, *, sent: bool
    ) -> None:
        """A marketing mail planned at `at` before the broadcasts: sent then, or queued (the
        running engine sends it)."""
        planned = PlannedSend(
            idempotency_key=key,
            workflow="newsletter-archive",
            step="1",
            customer_id=customer_id,
            recipient=recipient,
            template="mass/note",
            subject="Last week's news",
            message_id=f"<{key}@shop.example>",
        )
        with self.database.transaction() as session:
            assert plan_sends(session, [planned], at) == 1
            if sent:
                o = outbox_table.c
                session.execute(
                    update(outbox_table)
                    .where(o.idempotency_key == key)
                    .values(state="sent", sent_at=at, attempts=1)
                )

    def run(self, name: str) -> BroadcastRun:
        with self.database.session() as session:
            found = runs.load(session, name)
        assert found is not None, f"{name} is not scheduled"
        return found

    def states(self, name: str) -> dict[str, int]:
        with self.database.session() as session:
            return broadcast_outbox.outbox_states(session, name)

    def rows(self, name: str) -> list[dict[str, Any]]:
        o = outbox_table.c
        with self.database.session() as session:
            found = session.execute(
                select(outbox_table).where(o.workflow == f"broadcast:{name}").order_by(o.id)
            )
            return [dict(row) for row in found.mappings()]

    def planned_per_customer(self, name: str) -> Counter[int]:
        o = outbox_table.c
        with self.database.session() as session:
            found = session.execute(
                select(o.customer_id, func.count())
                .where(o.workflow == f"broadcast:{name}")
                .group_by(o.customer_id)
            )
            return Counter({int(customer): int(count) for customer, count in found})


@asynccontextmanager
async def engine_shop(
    folder: Path, url: str | None = None, *, pause: float = 0.0, keep_bodies: bool = True
) -> AsyncIterator[EngineShop]:
    """A shop in `folder` on `url` (a SQLite file there by default) at NOW, with a sink whose
    `pause` and `keep_bodies` are as given; its engines are killed and the sink closed after."""
    sink = await start_server(Sink(pause, keep_bodies))
    try:
        shop = EngineShop(folder, url or f"sqlite:///{folder / 'shop.db'}", sink, NOW)
        try:
            yield shop
        finally:
            await shop.close()
    finally:
        await sink.close()
