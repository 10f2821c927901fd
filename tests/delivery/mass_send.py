"""Thousands of planned sends, dispatcher processes that send them, a server counting arrivals.

Used by the crash-safety and several-workers tests: real processes, real SMTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import plan_sends
from mailengine.store.records import ConsentStatement, CustomerUpsert, PlannedSend
from tests.transport.conftest import RecordingHandler

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


def plan_for_consenting_customers(database: Database, count: int, now: datetime) -> dict[str, str]:
    """`count` consenting customers and one planned note each; returns recipient -> Message-ID."""
    expected: dict[str, str] = {}
    for start in range(0, count, 2000):
        people = [
            CustomerUpsert(
                email=f"kunde{n}@example.com",
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
    heard about.
    """

    def __init__(self, pause: float = 0.0) -> None:
        super().__init__()
        self.pause = pause
        self.arrivals: list[tuple[str, str]] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        assert isinstance(envelope.content, bytes)
        headers = envelope.content.partition(b"\r\n\r\n")[0]
        found = _MESSAGE_ID.search(headers)
        message_id = found[1].decode("ascii") if found else ""
        for recipient in envelope.rcpt_tos:
            self.arrivals.append((recipient, message_id))
        if self.pause:
            await asyncio.sleep(self.pause)
        return "250 2.0.0 OK: queued"


@dataclass
class WorkerProcess:
    """A running `tests.delivery.dispatch_worker`; its output goes to files beside the test."""

    process: asyncio.subprocess.Process
    output: Path
    errors: Path
    started: float = field(default_factory=time.monotonic)

    def report(self) -> dict[str, Any]:
        """The JSON line the worker printed when it finished."""
        lines = self.output.read_text(encoding="utf-8").splitlines()
        assert lines, f"the worker printed nothing; its errors:\n{self.describe_errors()}"
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    def describe_errors(self) -> str:
        return self.errors.read_text(encoding="utf-8")[-3000:]

    async def finish(self, within: float) -> dict[str, Any]:
        """Wait for a clean exit and return its report."""
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"the worker did not finish within {within} s:\n{self.describe_errors()}"
            ) from None
        assert code == 0, f"the worker exited with {code}:\n{self.describe_errors()}"
        return self.report()

    async def kill_when(self, condition: Callable[[], bool], within: float) -> None:
        """SIGKILL the worker as soon as `condition()` holds (checked every few ms)."""
        deadline = time.monotonic() + within
        while not condition():
            if self.process.returncode is not None:
                raise AssertionError(
                    f"the worker ended ({self.process.returncode}) before it could be killed "
                    f"mid-run:\n{self.describe_errors()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the kill condition did not come true within {within} s")
            await asyncio.sleep(0.005)
        self.process.kill()
        await self.process.wait()


async def start_worker(
    folder: Path, name: str, database_url: str, port: int, templates: Path, *options: str
) -> WorkerProcess:
    """Start one dispatcher process; `options` as `dispatch_worker` takes them. It holds its
    claims as a dispatcher of `mailengine run` does, named by host and pid."""
    output, errors = folder / f"{name}.out", folder / f"{name}.err"
    with output.open("wb") as stdout, errors.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.delivery.dispatch_worker",
            database_url,
            str(port),
            str(templates),
            *options,
            cwd=REPO,
            stdout=stdout,
            stderr=stderr,
        )
    return WorkerProcess(process, output, errors)
