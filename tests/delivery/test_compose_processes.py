"""Composing in worker processes: the same mail as threads, a render error kept to its
customer, signatures that verify, and nothing lost or sent twice when a worker is killed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.service import Engine
from mailengine.outbound.compose_pool import (
    WORKER_KILLED,
    ComposeProcesses,
    ComposeTask,
    ComposeThreads,
    ComposeWorkerLost,
    ReadyToSend,
)
from mailengine.outbound.composer import ComposedMessage, Composer
from mailengine.outbound.dispatcher import Dispatcher, DispatchOptions, DispatchReport
from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.transport.base import Transport
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.outbound.transport.smtp import SmtpOptions, SmtpTimeouts, SmtpTransport
from mailengine.render.library import TemplateLibrary
from mailengine.render.template_sources import TemplateSources
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.recipients import RecipientSnapshot
from mailengine.store.records import ClaimedSend, CustomerUpsert
from mailengine.store.write_turn import WriteTurn
from tests.conftest import NOW
from tests.databases import opened_database
from tests.delivery.conftest import REPO, SECRET, add_customers, plan, states
from tests.engine.harness import EngineHarness
from tests.transport.conftest import RecordingHandler, start_server
from tests.waiting import PATIENCE, until, until_blocking

PEOPLE = [
    ("anna@example.com", "Anna", "granted"),
    ("ben@example.com", "Ben", "granted"),
    ("cleo@example.com", "Cleo", "withdrawn"),
    ("dora@example.com", "Dora", "granted"),
]
STRICT = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ customer.last_name }}"
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)
DRAIN_PATIENCE = 3 * PATIENCE
"""A drain that starts worker processes again and again after deaths (each start takes
seconds on a busy machine)."""
PLAIN = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>{text}"
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped templates and one that fails for a customer without a last name."""
    folder = tmp_path_factory.mktemp("compose") / "templates"
    shutil.copytree(REPO / "templates", folder)
    (folder / "strict").mkdir()
    (folder / "strict" / "hello.mjml").write_text(STRICT, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def signer() -> DkimSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DkimSigner("shop.example", "mail2026", pem)


@pytest.fixture(scope="module")
def signing_composer(templates: Path, signer: DkimSigner) -> Composer:
    return Composer(Settings(), TemplateLibrary(templates, auto_reload=True), SECRET, signer)


@pytest.fixture(scope="module")
def pool(signing_composer: Composer) -> Iterator[ComposeProcesses]:
    """Two worker processes shared by the tests here (each takes a second or so to start)."""
    workers = ComposeProcesses(signing_composer, 2)
    workers.start()
    yield workers
    workers.close()


def pooled(
    pool: ComposeProcesses, database: Database, transport: Transport, composer: Composer
) -> Dispatcher:
    """A dispatcher composing with the shared pool, in batches of 3 (one taken ahead)."""
    options = DispatchOptions(batch_size=3)
    clock = FrozenClock(NOW)
    return Dispatcher(database, transport, composer, clock, options=options, composing=pool)


def verifies(message: bytes, signer: DkimSigner) -> bool:
    """dkimpy's verdict, the public key served from the signer's own DNS record."""
    record = signer.dns_record().encode("ascii")

    def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
        wanted = f"{signer.selector}._domainkey.{signer.domain}."
        return record if (name.decode() if isinstance(name, bytes) else name) == wanted else None

    return bool(dkim.verify(message, dnsfunc=lookup))


def without_randomness(message: bytes) -> bytes:
    """The message without its DKIM-Signature and with a constant MIME boundary: the boundary
    is random per message, and the body hash and the signature cover it."""
    unsigned = re.sub(rb"\ADKIM-Signature:.*?\r\n(?![ \t])", b"", message, flags=re.DOTALL)
    boundary = re.search(rb'boundary="([^"]+)"', unsigned)
    assert boundary is not None
    return unsigned.replace(boundary.group(1), b"BOUNDARY")


def task(send_id: int, email: str, template: str, first_name: str = "Anna") -> ComposeTask:
    send = ClaimedSend(
        id=send_id,
        idempotency_key=f"test:{send_id}",
        kind="marketing",
        workflow="test",
        step="1",
        customer_id=send_id,
        recipient=email,
        template=template,
        subject="Hallo {{ customer.first_name }}",
        preheader=None,
        payload={},
        message_id=f"<test.{send_id}@shop.example>",
        attempts=1,
        created_at=NOW,
    )
    recipient = RecipientSnapshot(
        id=send_id,
        email=email,
        email_hash=address_hash(email),
        profile={"first_name": first_name},
        consent_status="granted",
        forgotten=False,
        suppression=None,
    )
    return ComposeTask(send, recipient)


def _give_last_name(database: Database, email: str, last_name: str) -> None:
    with database.transaction() as session:
        upsert_customers(
            session, [CustomerUpsert(email=email, fields={"last_name": last_name})], NOW
        )


async def test_worker_processes_send_what_threads_send(
    tmp_path: Path, pool: ComposeProcesses, signing_composer: Composer
) -> None:
    """One batch, over SMTP to a real server, composed on threads and in worker processes."""
    received: dict[str, dict[bytes, bytes]] = {}
    reports: dict[str, DispatchReport] = {}
    outcomes: dict[str, dict[str, str]] = {}
    for how in ("threads", "processes"):
        with opened_database(f"sqlite:///{tmp_path / how}.db") as database:
            database.upgrade()
            ids = add_customers(database, PEOPLE)
            plan(database, ids)
            plan(database, ids, template="thank-you/order-confirmed", kind="transactional")
            server = await start_server(RecordingHandler())
            options = SmtpOptions(
                port=server.port,
                connections=2,
                timeouts=SmtpTimeouts().capped(PATIENCE),
                local_hostname="compose.test",
            )
            try:
                async with SmtpTransport(options) as transport:
                    if how == "threads":
                        batches = DispatchOptions(batch_size=3)
                        dispatcher = Dispatcher(
                            database, transport, signing_composer, FrozenClock(NOW), options=batches
                        )
                    else:
                        dispatcher = pooled(pool, database, transport, signing_composer)
                    try:
                        reports[how] = await dispatcher.drain()
                    finally:
                        dispatcher.close()
            finally:
                await server.close()
            outcomes[how] = states(database)
        received[how] = {}
        for message in server.handler.messages:
            found = re.search(rb"^Message-ID: (\S+)", message.data, re.MULTILINE)
            assert found is not None
            received[how][found.group(1)] = message.data
    assert (reports["processes"].sent, reports["processes"].suppressed) == (7, 1)
    assert reports["processes"] == reports["threads"]
    assert outcomes["processes"] == outcomes["threads"]
    assert received["processes"].keys() == received["threads"].keys()
    for message_id, data in received["processes"].items():
        assert without_randomness(data) == without_randomness(received["threads"][message_id])


async def test_the_dkim_signatures_of_worker_processes_verify(
    database: Database, pool: ComposeProcesses, signing_composer: Composer, signer: DkimSigner
) -> None:
    ids = add_customers(database, PEOPLE)
    plan(database, ids, template="thank-you/order-confirmed", kind="transactional")
    transport = MemoryTransport()
    assert (await pooled(pool, database, transport, signing_composer).drain()).sent == 4
    for envelope in transport.outbox:
        assert envelope.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
        assert verifies(envelope.data, signer), envelope.rcpt_to


async def test_a_render_error_settles_only_that_customers_send(
    database: Database, pool: ComposeProcesses, signing_composer: Composer
) -> None:
    ids = add_customers(database, PEOPLE[:2])
    _give_last_name(database, "ben@example.com", "Berg")
    plan(database, ids, template="strict/hello")
    transport = MemoryTransport()
    report = await pooled(pool, database, transport, signing_composer).drain()
    assert (report.sent, report.failed) == (1, 1)
    assert [envelope.rcpt_to for envelope in transport.outbox] == ["ben@example.com"]
    assert b"Hi Berg" in transport.outbox[0].data
    with database.session() as session:
        state, reply = session.execute(
            select(outbox_table.c.state, outbox_table.c.last_reply).where(
                outbox_table.c.recipient == "anna@example.com"
            )
        ).one()
    assert state == "failed"
    assert reply.startswith("render error: ")
    assert "anna@example.com" in reply
    assert "last_name" in reply


def write_version(template: Path, text: str) -> None:
    """Write a plain template saying `text`, with an mtime seconds after the one it had, so
    that a reload sees the change whatever the file system's resolution."""
    template.parent.mkdir(exist_ok=True)
    before = template.stat().st_mtime_ns if template.exists() else 0
    template.write_text(PLAIN.format(text=text), encoding="utf-8")
    stamp = max(time.time_ns(), before + 5_000_000_000)
    os.utime(template, ns=(stamp, stamp))


def test_a_worker_reloads_a_template_changed_on_disk(
    pool: ComposeProcesses, templates: Path
) -> None:
    """The workers' libraries are their own; with auto_reload each sees the file change."""
    probe = templates / "reload" / "probe.mjml"
    write_version(probe, "version one")
    tasks = [task(n, f"p{n}@example.com", "reload/probe") for n in range(1, 17)]
    assert all(b"version one" in _bytes(result) for result in pool.compose(tasks, NOW))
    write_version(probe, "version two")
    assert all(b"version two" in _bytes(result) for result in pool.compose(tasks, NOW))


def _bytes(result: ReadyToSend | object) -> bytes:
    assert isinstance(result, ReadyToSend), result
    return result.envelope.data


class _MisbehavingComposer(Composer):
    """On a message to one of `victims`, in a worker process: with a `marker`, stops once
    (writes its process id there and waits to be killed, or for a file named like the marker
    with `.release` appended: a failed test must not wait for it); without, kills its
    process."""

    def __init__(
        self,
        settings: Settings,
        library: TemplateLibrary,
        secret: bytes,
        victims: frozenset[str],
        marker: Path | None = None,
    ) -> None:
        super().__init__(settings, library, secret, None)
        self.victims = victims
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Composer], tuple[object, ...]]:
        return type(self), (self.settings, self.library, self._secret, self.victims, self.marker)

    def compose(
        self,
        send: ClaimedSend,
        recipient: RecipientSnapshot,
        now: datetime,
        coupon: IssuedCoupon | None = None,
        template: TemplateSources | None = None,
    ) -> ComposedMessage:
        if recipient.email in self.victims and multiprocessing.parent_process() is not None:
            if self.marker is None:
                os.kill(os.getpid(), signal.SIGKILL)
            else:
                self._stall_once(self.marker)
        return super().compose(send, recipient, now, coupon, template)

    @staticmethod
    def _stall_once(marker: Path) -> None:
        try:
            written = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # killed once already: compose it now
        os.write(written, str(os.getpid()).encode("ascii"))
        os.close(written)
        until_blocking(_release_of(marker).exists, "the stalled worker's release", every=0.01)


def _release_of(marker: Path) -> Path:
    return marker.with_name(marker.name + ".release")


async def _kill_when_stalled(marker: Path) -> int:
    """SIGKILL the worker process that wrote its id to `marker`; returns that id."""
    await until(lambda: _written_pid(marker) is not None, "a compose worker stalling")
    stalled = _written_pid(marker)
    assert stalled is not None
    os.kill(stalled, signal.SIGKILL)
    return stalled


def _written_pid(marker: Path) -> int | None:
    text = marker.read_text(encoding="ascii") if marker.exists() else ""
    return int(text) if text else None


async def test_a_killed_worker_loses_no_mail_and_sends_none_twice(
    sqlite_database: Database, templates: Path, tmp_path: Path
) -> None:
    """A worker killed once (by the system, say) costs its batch a recompose, nothing else."""
    people = [(f"p{n}@example.com", f"P{n}", "granted") for n in range(9)]
    plan(sqlite_database, add_customers(sqlite_database, people))
    marker = tmp_path / "stalled.pid"
    library = TemplateLibrary(templates)
    # p4 is in the second batch, composed while the first one is sent
    victims = frozenset({"p4@example.com"})
    composer = _MisbehavingComposer(Settings(), library, SECRET, victims, marker)
    options = DispatchOptions(batch_size=3, compose_processes=2)
    transport = MemoryTransport()
    dispatcher = Dispatcher(sqlite_database, transport, composer, FrozenClock(NOW), options=options)
    killing = asyncio.create_task(_kill_when_stalled(marker))
    try:
        report = await asyncio.wait_for(dispatcher.drain(), timeout=DRAIN_PATIENCE)
        killed = await killing
    finally:
        killing.cancel()
        _release_of(marker).touch()  # a worker still stalled (the test failed) goes on
        await asyncio.to_thread(dispatcher.close)
    assert report.sent == 9
    recipients = [envelope.rcpt_to for envelope in transport.outbox]
    assert sorted(recipients) == sorted(email for email, _, _ in people)  # each exactly once
    assert set(states(sqlite_database).values()) == {"sent"}
    with sqlite_database.session() as session:
        assert set(session.execute(select(outbox_table.c.attempts)).scalars()) == {1}
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)


async def test_a_message_that_kills_its_worker_every_time_fails_alone(
    sqlite_database: Database, templates: Path
) -> None:
    people = [(f"k{n}@example.com", f"K{n}", "granted") for n in range(6)]
    plan(sqlite_database, add_customers(sqlite_database, people))
    library = TemplateLibrary(templates)
    # two poisonous messages, the first two of their batch
    victims = frozenset({"k3@example.com", "k4@example.com"})
    composer = _MisbehavingComposer(Settings(), library, SECRET, victims)
    options = DispatchOptions(batch_size=3, compose_processes=2)
    transport = MemoryTransport()
    dispatcher = Dispatcher(sqlite_database, transport, composer, FrozenClock(NOW), options=options)
    try:
        report = await asyncio.wait_for(dispatcher.drain(), timeout=DRAIN_PATIENCE)
    finally:
        await asyncio.to_thread(dispatcher.close)
    assert (report.sent, report.failed) == (4, 2)
    assert sorted(e.rcpt_to for e in transport.outbox) == [
        f"k{n}@example.com" for n in (0, 1, 2, 5)
    ]
    with sqlite_database.session() as session:
        rows = session.execute(
            select(outbox_table.c.recipient, outbox_table.c.state, outbox_table.c.last_reply)
        ).all()
    failed = {recipient: reply for recipient, state, reply in rows if state == "failed"}
    assert set(failed) == victims
    assert all(reply == WORKER_KILLED for reply in failed.values())


def test_workers_dying_on_most_messages_give_the_batch_back(templates: Path) -> None:
    """Not one message's doing: nothing is settled, the dispatcher hands the claims back."""
    library = TemplateLibrary(templates)
    everyone = frozenset(f"d{n}@example.com" for n in range(4))
    pool = ComposeProcesses(_MisbehavingComposer(Settings(), library, SECRET, everyone), 1)
    try:
        with pytest.raises(ComposeWorkerLost, match="died on 3 of 3 messages"):
            pool.compose([task(n, f"d{n}@example.com", "welcome/hello") for n in range(1, 5)], NOW)
    finally:
        pool.close()


def test_a_composer_pickles_into_one_that_composes_the_same(
    signing_composer: Composer, signer: DkimSigner
) -> None:
    copy = pickle.loads(pickle.dumps(signing_composer))
    assert copy is not signing_composer
    original = signing_composer.compose(*_arguments(task(7, "anna@example.com", "welcome/hello")))
    rebuilt = copy.compose(*_arguments(task(7, "anna@example.com", "welcome/hello")))
    assert rebuilt.rendered == original.rendered
    assert without_randomness(rebuilt.envelope.data) == without_randomness(original.envelope.data)
    assert verifies(rebuilt.envelope.data, signer)


def _arguments(one: ComposeTask) -> tuple[ClaimedSend, RecipientSnapshot, datetime]:
    return one.send, one.recipient, NOW


@pytest.mark.parametrize("auto_reload", [True, False])
def test_a_template_library_pickles_with_its_folder_and_auto_reload(
    tmp_path: Path, auto_reload: bool
) -> None:
    note = tmp_path / "note" / "hello.mjml"
    write_version(note, "version one")
    copy = pickle.loads(pickle.dumps(TemplateLibrary(tmp_path, auto_reload=auto_reload)))
    assert copy.templates_dir == tmp_path
    assert "version one" in copy.render("note/hello", {}, subject="Hallo").text
    write_version(note, "version two")
    expected = "version two" if auto_reload else "version one"
    assert expected in copy.render("note/hello", {}, subject="Hallo").text


async def test_an_engine_set_to_compose_in_processes_sends_and_stops_them(
    sqlite_database: Database, tmp_path: Path
) -> None:
    shop = EngineHarness(sqlite_database, FrozenClock(datetime(2026, 11, 23, 11, 0, tzinfo=UTC)))
    shop.customer("ann@example.com", "Ann")
    shop.event("ann@example.com", "customer.created")
    shop.buy("ann@example.com", "W1")
    settings = Settings.model_validate(
        {
            "paths": {
                "workflows": str(REPO / "workflows"),
                "templates": str(REPO / "templates"),
                "var": str(tmp_path),
            },
            "engine": {"compose_processes": 1},
        }
    )
    transport = MemoryTransport()
    engine = Engine(settings, sqlite_database, clock=shop.clock, transport=transport)
    assert engine.dispatcher.options.compose_processes == 1
    before = set(multiprocessing.active_children())
    report = await engine.run_once()
    assert report.dispatched.sent == 2
    assert sorted(envelope.rcpt_to for envelope in transport.outbox) == ["ann@example.com"] * 2
    assert set(multiprocessing.active_children()) <= before  # its worker stopped with it


def test_composing_threads_stand_aside_while_their_process_writes(
    composer: Composer, tmp_path: Path
) -> None:
    """A unit of work of the process (the engine's round, an outcome group) gets the
    interpreter to itself: composing waits between messages for it to end."""
    turn = WriteTurn(tmp_path / "shop.db", 10.0)
    threads = ComposeThreads(composer, 2)
    threads.compose([task(2, "ben@example.com", "welcome/hello")], NOW)  # templates compiled
    taken, release = threading.Event(), threading.Event()
    ended: list[float] = []

    def hold() -> None:
        with turn():
            taken.set()
            release.wait(5)
            ended.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(5)
    threading.Timer(0.01, release.set).start()  # a short unit of work: 10 ms
    composed = threads.compose([task(1, "anna@example.com", "welcome/hello")], NOW)
    done = time.monotonic()
    holder.join()
    threads.close()
    assert isinstance(composed[0], ReadyToSend)
    assert ended and done >= ended[0]  # composed only once the turn was let go of
