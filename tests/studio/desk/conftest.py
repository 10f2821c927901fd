"""Fixtures and helpers of the support desk's studio tests: customers write to support
through the real inbound pipeline of the studio's shop (its settings and secret key), on the
system clock that `frozen_time` stops; pages are read back as a person would read them."""

from __future__ import annotations

import email
import html
import re
from collections.abc import AsyncIterator, Sequence
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.inbound.pipeline import InboundPipeline, InboundResult
from mailengine.outbound import Composer, Dispatcher, DispatchOptions, DkimSigner, SmtpTransport
from mailengine.outbound.transport.smtp import SmtpOptions
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.database import Database
from tests.inbound_flow.conftest import FAST, question
from tests.studio.conftest import csrf_token
from tests.transport.conftest import RecordingHandler, SmtpServer, start_server

_TAGS = re.compile(r"<[^>]+>")


@pytest.fixture
def studio_settings(studio_settings: Settings) -> Settings:
    """The studio's shop, with sessions that outlast the hours these tests move the clock."""
    studio = studio_settings.studio.model_copy(
        update={"session_hours": 24 * 30, "idle_minutes": 24 * 30 * 60}
    )
    return studio_settings.model_copy(update={"studio": studio})


@pytest.fixture
def desk_pipeline(studio_settings: Settings, database: Database) -> InboundPipeline:
    """The inbound pipeline `mailengine run` would start for the studio's shop."""
    return InboundPipeline(database, studio_settings, secret_key(studio_settings), SystemClock())


@pytest.fixture(scope="session")
def signer() -> DkimSigner:
    """The shop's DKIM key (Ed25519: quick to make)."""
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DkimSigner("shop.example", "mail2026", key)


@pytest.fixture
async def mailbox() -> AsyncIterator[SmtpServer]:
    """Where the engine's mail goes: a recording SMTP server on 127.0.0.1, port 0."""
    server = await start_server(RecordingHandler())
    yield server
    await server.close()


@pytest.fixture
async def dispatcher(
    database: Database, mailbox: SmtpServer, studio_settings: Settings, signer: DkimSigner
) -> AsyncIterator[Dispatcher]:
    """The dispatcher `mailengine run` would start for the studio's shop, signing with DKIM
    and sending over SMTP to `mailbox`."""
    transport = SmtpTransport(
        SmtpOptions(port=mailbox.port, connections=1, timeouts=FAST, local_hostname="engine.test")
    )
    library = TemplateLibrary(studio_settings.paths.templates)
    composer = Composer(studio_settings, library, secret_key(studio_settings), signer)
    yield Dispatcher(
        database, transport, composer, SystemClock(), options=DispatchOptions(batch_size=50)
    )
    await transport.aclose()


def received(server: SmtpServer, recipient: str) -> list[tuple[str, bytes, EmailMessage]]:
    """(envelope sender, raw bytes, parsed message) of what `recipient` got, in order."""
    return [
        (
            item.mail_from,
            item.data,
            email.message_from_bytes(item.data, policy=default_policy),
        )
        for item in server.handler.messages
        if recipient in item.rcpt_tos
    ]


async def write_in(
    pipeline: InboundPipeline,
    *,
    sender: str = "Anna Customer <anna@customer.example>",
    subject: str = "Where is my order?",
    message_id: str = "<question-1@customer.example>",
    body: str = "Hello, my order has not arrived yet. Can you help?\n",
    headers: Sequence[tuple[str, str]] = (),
) -> InboundResult:
    """A customer's message, stored as the listener stores it and acted on."""
    raw = question(
        sender=sender, subject=subject, message_id=message_id, body=body, headers=headers
    )
    address = sender.rsplit("<", 1)[-1].strip(">").lower()
    pipeline.store(raw, source="smtp", envelope_from=address, envelope_to=("support@shop.example",))
    [result] = await pipeline.drain()
    return result


def text_of(page: str) -> str:
    """The page's text, tags removed and whitespace collapsed (for reading, not layout)."""
    return " ".join(html.unescape(_TAGS.sub(" ", page)).split())


def inbox_lines(page: str) -> list[tuple[str, str]]:
    """(reference, waiting) of each inbox row, in order."""
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    lines = []
    for row in rows:
        reference = re.search(r'class="ticket-ref"[^>]*>([^<]+)<', row)
        if reference is None:
            continue
        waiting = re.search(r'<span class="clock[^"]*">([^<]+)</span>', row)
        lines.append((reference.group(1), waiting.group(1) if waiting else ""))
    return lines


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    """Open `page_path` and post one of its forms to `action`, with the session's token."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_token(page.text), **fields})


def form_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no field {name} on the page"
    return html.unescape(found.group(1))
