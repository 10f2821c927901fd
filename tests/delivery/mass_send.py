"""Thousands of planned sends, dispatcher processes that send them, a server counting arrivals.

Used by the crash-safety and several-workers tests and by bench/faults.py: real processes,
real SMTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from tests.conftest import NOW
from tests.transport.conftest import RecordingHandler
from tests.waiting import PATIENCE, NotInTime, until

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = "mass/note"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)
# A small template: the tests are about delivery, not rendering, and must stay fast.
_NOTE = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hallo {{ customer.first_name | default('du') }},</mj-text>
        <mj-text>unsere Neuheiten sind da. {{ sender.postal_address }}</mj-text>
        <mj-text><a href="{{ links.unsubscribe_url }}">Abmelden</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def write_note_template(folder: Path) -> Path:
    """A templates folder holding only `mass/note`; returns the folder."""
    (folder / "mass").mkdir(parents=True, exist_ok=True)
    (folder / "mass" / "note.mjml").write_text(_NOTE, encoding="utf-8")
    return folder


def customer_address(number: int) -> str:
    return f"kunde{number}@example.com"


def plan_for_consenting_customers(
    database: Database,
    count: int,
    now: datetime,
    address: Callable[[int], str] = customer_address,
) -> dict[str, str]:
    """`count` consenting customers (the n-th at `address(n)`) and one planned note each;
    returns recipient -> Message-ID."""
    expected: dict[str, str] = {}
    for start in range(0, count, 2000):
        people = [
            CustomerUpsert(
                email=address(n),
                fields={"first_name": f"Kim {n}", "locale": "de_DE"},
                consent=ConsentStatement("granted", "test", now),
            )
            for n in range(start, min(count, start + 2000))
        ]
        with database.transaction() as session:
            ids = upsert_customers(session, people, now).customer_ids
            sends = [
                PlannedSend(
                    idempotency_key=f"mass:note:{customer_id}",
                    workflow="mass",
                    step="1",
                    customer_id=customer_id,
                    recipient=email,
                    template=TEMPLATE,
                    subject="Neu für dich, {{ customer.first_name }}",
                    message_id=f"<mass.{customer_id}@shop.example>",
                )
                for email, customer_id in ids.items()
            ]
            assert plan_sends(session, sends, now) == len(sends)
        expected.update((send.recipient, send.message_id) for send in sends)
    return expected


class MessageIdRecorder(RecordingHandler):
    """Keeps (recipient, Message-ID) of every accepted message, not the bytes.

    `pause` seconds pass between taking a message and answering 250, as on a server that
    writes to disk first: a sender killed in that moment has delivered a message it never
    heard about. `times` holds when each arrival came (time.monotonic()).
    """

    def __init__(self, pause: float = 0.0) -> None:
        super().__init__()
        self.pause = pause
        self.arrivals: list[tuple[str, str]] = []
        self.times: list[float] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        assert isinstance(envelope.content, bytes)
        headers = envelope.content.partition(b"\r\n\r\n")[0]
        found = _MESSAGE_ID.search(headers)
        message_id = found[1].decode("ascii") if found else ""
        arrived = time.monotonic()
        for recipient in envelope.rcpt_tos:
            self.arrivals.append((recipient, message_id))
            self.times.append(arrived)
        if self.pause:
            await asyncio.sleep(self.pause)
        return "250 2.0.0 OK: queued"


@dataclass
class WorkerProcess:
    """A running `tests.delivery.dispatch_worker`; its output goes to files beside the test."""

    name: str
    process: asyncio.subprocess.Process
    output: Path
    errors: Path
    ready: Path
    killed: bool = False

    def report(self) -> dict[str, Any]:
        """The JSON line the worker printed when it finished."""
        lines = self.output.read_text(encoding="utf-8").splitlines()
        assert lines, f"{self.name} printed nothing; its errors:\n{self.describe_errors()}"
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    def describe_errors(self) -> str:
        return self.errors.read_text(encoding="utf-8")[-3000:]

    def ended(self) -> str | None:
        """Why waiting for this worker's work is pointless: it is no longer running."""
        code = self.process.returncode
        if code is None:
            return None
        return f"{self.name} ended ({code}):\n{self.describe_errors()}"

    def failed(self) -> str | None:
        """Why this worker failed, if it ended with an error (not killed by its test)."""
        failed = self.process.returncode not in (None, 0) and not self.killed
        return self.ended() if failed else None

    async def finish(self, within: float = PATIENCE) -> dict[str, Any]:
        """Wait for a clean exit (its work done, it stops by itself) and return its report."""
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} did not finish within {within:.0f} s:\n{self.describe_errors()}"
            ) from None
        assert code == 0, f"{self.name} exited with {code}:\n{self.describe_errors()}"
        return self.report()

    async def kill_when(self, condition: Callable[[], bool], progress: Callable[[], int]) -> None:
        """SIGKILL the worker as soon as `condition()` holds (checked every few ms), while
        `progress()` keeps moving."""
        last, moved = progress(), time.monotonic()
        while not condition():
            if self.process.returncode is not None:
                raise AssertionError(f"ended before it could be killed mid-run: {self.ended()}")
            if progress() != last:
                last, moved = progress(), time.monotonic()
            elif time.monotonic() - moved > PATIENCE:
                raise NotInTime(f"{self.name} made no progress for {PATIENCE:.0f} s")
            await asyncio.sleep(0.005)
        await self.kill()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.killed = True
            self.process.kill()
        await self.process.wait()


class Workers:
    """Dispatcher processes of one test, all on one clock; every one still running when the
    block ends (the test failed) is killed.

        async with Workers(folder, url, port, templates) as workers:
            first = await workers.start("first", "--batch-size=100")
            await workers.go()
    """

    def __init__(self, folder: Path, database_url: str, port: int, templates: Path) -> None:
        self.folder = folder
        self.arguments = (database_url, str(port), str(templates))
        self.origin = time.monotonic()  # the clock of every worker: NOW at this moment
        self.go_file = folder / "go"
        self.started: list[WorkerProcess] = []

    async def __aenter__(self) -> Workers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self.started:
            await worker.kill()

    async def start(
        self,
        name: str,
        *options: str,
        wait_for_go: bool = True,
        ahead: timedelta = timedelta(0),
    ) -> WorkerProcess:
        """Start one dispatcher process; `options` as `dispatch_worker` takes them. With
        `wait_for_go` it sets itself up and waits for `go()` before it claims anything. Its
        clock runs `ahead` of the others' (a process started after their leases ran out)."""
        output, errors = self.folder / f"{name}.out", self.folder / f"{name}.err"
        ready = self.folder / f"{name}.ready"
        start = (NOW + ahead).isoformat()
        timing = ["--start-at", start, "--origin", repr(self.origin)]
        if wait_for_go:
            timing += ["--ready-file", str(ready), "--go-file", str(self.go_file)]
        with output.open("wb") as stdout, errors.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.delivery.dispatch_worker",
                *self.arguments,
                *timing,
                *options,
                cwd=REPO,
                stdout=stdout,
                stderr=stderr,
            )
        worker = WorkerProcess(name, process, output, errors, ready)
        self.started.append(worker)
        return worker

    def trouble(self) -> str | None:
        """Why waiting for more of their work is pointless: one failed, or all have ended."""
        failed = next(filter(None, (worker.failed() for worker in self.started)), None)
        if failed is not None or not all(worker.ended() for worker in self.started):
            return failed
        return "every worker has ended"

    async def go(self) -> None:
        """Once every worker started is set up (importing takes seconds on a busy machine),
        let them all begin at once."""

        def all_set() -> bool:
            return all(worker.ready.exists() or worker.ended() for worker in self.started)

        await until(all_set, "dispatcher processes setting up")
        for worker in self.started:
            assert worker.killed or worker.ended() is None, worker.ended()
        self.go_file.touch()
