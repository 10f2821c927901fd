"""On SQLite an SMTP worker waits for its outcome to be in its dispatcher's journal, not for the
database's write turn; the outcomes of a dispatcher that died are stored from its journal
before its claims are handed back, so its sent messages are not sent again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailengine.clock import FrozenClock
from mailengine.outbound import outcome_journal
from mailengine.outbound.composer import Composer
from mailengine.outbound.group_commit import GroupCommit, Recorded
from mailengine.outbound.outcome_journal import OutcomeJournal, journal_folder, journals
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due, outbox_table
from mailengine.store.records import SendOutcome
from tests.conftest import NOW
from tests.delivery.conftest import add_customers, make_dispatcher, plan


async def test_a_worker_goes_on_once_its_outcome_is_journaled(tmp_path: Path) -> None:
    written: list[Sequence[Recorded]] = []
    stored: list[Sequence[Recorded]] = []
    turn = threading.Event()  # the database's write turn, not given yet

    def write(items: Sequence[Recorded], at: datetime) -> None:
        assert turn.wait(5)
        written.append(items)

    journal = OutcomeJournal(tmp_path, "dispatcher-1")
    recorder = GroupCommit(write, lambda: NOW, stored.append, journal=journal)
    recorder.busy = 2
    async with asyncio.timeout(2):  # neither waits for the write turn
        await recorder.record(SendOutcome(1, "sent", 250, "ok"), None)
        await recorder.record(SendOutcome(2, "failed", 550, "no such user"), "x@example.com")
    assert not stored
    (kept,) = journals(tmp_path)
    assert kept.worker == "dispatcher-1"
    assert [(item, at) for item, at in kept.items] == [
        ((SendOutcome(1, "sent", 250, "ok"), None), NOW),
        ((SendOutcome(2, "failed", 550, "no such user"), "x@example.com"), NOW),
    ]
    turn.set()
    await recorder.settle()
    assert [outcome.outbox_id for group in stored for outcome, _ in group] == [1, 2]
    assert journals(tmp_path)[0].items == []  # stored: nothing left to keep
    recorder.close()
    assert journals(tmp_path) == []


def _ended_identity() -> str:
    """The identity of a dispatcher whose process has ended."""
    return subprocess.run(
        [sys.executable, "-c", "from mailengine.owners import owner_identity as o; print(o())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def test_a_dead_dispatchers_journaled_outcomes_are_stored_not_sent_again(
    sqlite_database: Database, composer: Composer, clock: FrozenClock
) -> None:
    database = sqlite_database
    people = [(f"p{n}@example.com", f"P{n}", "granted") for n in range(3)]
    plan(database, add_customers(database, people))
    dead = _ended_identity()
    with database.transaction() as session:
        claimed = claim_due(session, dead, NOW, 3, timedelta(minutes=10))
    # It sent two of its three and journaled their outcomes; the third was on the wire.
    folder = journal_folder(database.engine.url.database)
    assert folder is not None
    journal = OutcomeJournal(folder, dead)
    sent_at = NOW - timedelta(seconds=5)
    journal.append(
        [(SendOutcome(send.id, "sent", 250, "ok"), None) for send in claimed[:2]], sent_at
    )
    with journal.path.open("ab") as cut_short:  # a line the kill cut in half
        cut_short.write(b'{"id":' + str(claimed[2].id).encode())
    transport = MemoryTransport()
    report = await make_dispatcher(database, transport, composer, clock).drain()
    assert report.sent == 1
    assert [envelope.rcpt_to for envelope in transport.outbox] == [claimed[2].recipient]
    o = outbox_table.c
    with database.session() as session:
        rows = session.execute(select(o.id, o.state, o.attempts, o.sent_at)).all()
    assert {(state, attempts) for _, state, attempts, _ in rows} == {("sent", 1), ("sent", 2)}
    assert {row_id for row_id, _, attempts, _ in rows if attempts == 1} == {
        send.id for send in claimed[:2]
    }
    assert {sent for row_id, _, _, sent in rows if row_id != claimed[2].id} == {sent_at}
    assert journals(folder) == []


def _outcome(outbox_id: int) -> Recorded:
    return SendOutcome(outbox_id, "sent", 250, "ok"), None


def test_stored_outcomes_are_marked_not_kept(tmp_path: Path) -> None:
    journal = OutcomeJournal(tmp_path, "dispatcher-1")
    journal.append([_outcome(1), _outcome(2)], NOW)
    journal.append([_outcome(3)], NOW)
    journal.keep_only([(_outcome(3), NOW)])  # 1 and 2 stored: one line says so
    (kept,) = journals(tmp_path)
    assert kept.items == [(_outcome(3), NOW)]
    assert journal.path.read_bytes().splitlines()[-1] == b'{"stored":2}'
    assert OutcomeJournal(tmp_path, "dispatcher-1").leftovers() == [(_outcome(3), NOW)]
    journal.append([_outcome(4)], NOW)
    journal.keep_only([])
    assert journals(tmp_path)[0].items == []
    journal.close()
    assert journals(tmp_path) == []


def test_a_journal_that_grew_long_is_written_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outcome_journal, "COMPACT_BYTES", 2000)
    journal = OutcomeJournal(tmp_path, "dispatcher-1")
    sizes = []
    for outbox_id in range(1, 40):
        journal.append([_outcome(outbox_id)], NOW)
        journal.keep_only([(_outcome(outbox_id), NOW)])  # all but the last stored
        sizes.append(journal.path.stat().st_size)
    assert max(sizes) < 2400 and min(sizes[5:]) < 300  # written anew now and then
    assert journals(tmp_path)[0].items == [(_outcome(39), NOW)]
    journal.close()
    assert journals(tmp_path)[0].items == [(_outcome(39), NOW)]  # kept: not stored


def test_outcomes_stored_out_of_order_write_the_journal_anew(tmp_path: Path) -> None:
    journal = OutcomeJournal(tmp_path, "dispatcher-1")
    journal.append([_outcome(1), _outcome(2), _outcome(3)], NOW)
    journal.keep_only([(_outcome(1), NOW)])  # 2 and 3 stored, not the first lines
    assert journals(tmp_path)[0].items == [(_outcome(1), NOW)]
    assert len(journal.path.read_bytes().splitlines()) == 2
    journal.close()


async def test_journaled_outcomes_wait_a_little_to_be_stored_together(tmp_path: Path) -> None:
    written: list[list[int]] = []

    def write(items: Sequence[Recorded], at: datetime) -> None:
        written.append([outcome.outbox_id for outcome, _ in items])

    journal = OutcomeJournal(tmp_path, "dispatcher-1")
    recorder = GroupCommit(
        write, lambda: NOW, lambda _: None, journal=journal, journal_linger=5, journal_group=3
    )
    recorder.busy = 1
    async with asyncio.timeout(2):  # the third ends the wait, not the linger
        for outbox_id in (1, 2):
            await recorder.record(SendOutcome(outbox_id, "sent", 250, "ok"), None)
            await asyncio.sleep(0.01)
        await recorder.record(SendOutcome(3, "sent", 250, "ok"), None)
        await recorder.settle()
    assert written == [[1, 2, 3]]
    recorder.close()
