"""Kill -9 a dispatcher in the middle of 2,000 mails, start another: nothing lost, the rows
the dead one held are taken up at once (not after their lease), and the only repeats are
messages that were on the wire at the kill, resent with their Message-ID.

2,000 mails are 20 batches: the kill still lands with a third sent, batches on the wire
and most still queued, as it did with 10,000 (25 s of the suite; 2,000 take 8). The full
`python -m bench.faults` kills senders during 10,000."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailengine.outbound.outcome_journal import journal_folder, journals
from mailengine.store.database import Database
from mailengine.store.outbox import count_by_state, outbox_table
from tests.conftest import NOW
from tests.databases import opened_database
from tests.delivery.mass_send import (
    MessageIdRecorder,
    Workers,
    plan_for_consenting_customers,
    write_note_template,
)
from tests.transport.conftest import start_server
from tests.waiting import until_done

MESSAGES = 2_000
CONNECTIONS = 4
LEASE = 300  # longer than the longest send (smtp.message_timeout_seconds and connecting)


@pytest.mark.slow
async def test_a_killed_dispatcher_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    with opened_database(url) as database:
        database.upgrade()
        expected = plan_for_consenting_customers(database, MESSAGES, NOW)
        templates = write_note_template(tmp_path / "templates")
        recorder = MessageIdRecorder(pause=0.002)
        server = await start_server(recorder)
        # A lease no batch outlasts on a busy machine: the second process takes up the first
        # one's rows at once because it sees that their holder (host and pid) has ended.
        options = (f"--connections={CONNECTIONS}", "--batch-size=100", f"--lease-seconds={LEASE}")
        try:
            async with Workers(tmp_path, url, server.port, templates) as workers:
                first = await workers.start("first", *options)
                await workers.go()
                await first.kill_when(
                    lambda: len(recorder.arrivals) >= MESSAGES // 3,
                    progress=lambda: len(recorder.arrivals),
                )
                arrived_before_restart = len(recorder.arrivals)
                first_sessions = server.sessions
                with database.session() as session:
                    at_kill = count_by_state(session)
                journaled = _journaled_not_stored(database, tmp_path / "outbox.db")
                second = await workers.start(
                    "second",
                    *options,
                    "--until=all-final",
                    wait_for_go=False,
                )
                await until_done(
                    lambda: len(recorder.arrivals), MESSAGES, "arrivals", failed=workers.trouble
                )
                report = await second.finish()
        finally:
            await server.close()
        _check(database, expected, recorder, arrived_before_restart, at_kill, first_sessions)
        assert report["sent"] == MESSAGES - at_kill["sent"] - journaled


def _journaled_not_stored(database: Database, sqlite_file: Path) -> int:
    """Messages sent and kept in a dead dispatcher's journal, not yet stored (a journal keeps
    outcomes stored just before the kill too)."""
    ids = {
        outcome.outbox_id
        for journal in journals(journal_folder(str(sqlite_file)))
        for (outcome, _), _ in journal.items
    }
    o = outbox_table.c
    with database.session() as session:
        held = set(session.scalars(select(o.id).where(o.state == "sending")))
    return len(ids & held)


def _check(
    database: Database,
    expected: dict[str, str],
    recorder: MessageIdRecorder,
    arrived_before_restart: int,
    at_kill: dict[str, int],
    first_sessions: int,
) -> None:
    # The kill landed mid-run: mail had gone out, much was still to go.
    assert MESSAGES // 3 <= arrived_before_restart < MESSAGES
    assert at_kill.get("queued", 0) > 0
    # Every message arrived, each with the Message-ID planned for its recipient.
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for recipient, message_id in recorder.arrivals:
        by_recipient[recipient].append(message_id)
    assert by_recipient.keys() == expected.keys()
    assert all(set(ids) == {expected[rcpt]} for rcpt, ids in by_recipient.items())
    # Repeats only of what the killed dispatcher's SMTP workers had sent and not yet recorded:
    # one per worker (`smtp.connections` of them). A worker lets its domain's connection go
    # as its reply arrives and records afterwards, so when one domain holds fewer connections
    # than there are workers (here `first_sessions`), a free worker may already be sending on a
    # connection whose last message's outcome is still being recorded.
    repeated = {rcpt: len(ids) - 1 for rcpt, ids in by_recipient.items() if len(ids) > 1}
    assert first_sessions <= CONNECTIONS
    assert sum(repeated.values()) <= CONNECTIONS
    assert all(count == 1 for count in repeated.values())
    # The outbox agrees; rows the dead dispatcher held were claimed again, within its lease.
    o = outbox_table.c
    with database.session() as session:
        assert count_by_state(session) == {"sent": MESSAGES}
        taken_twice = set(session.scalars(select(o.recipient).where(o.attempts == 2)))
        assert session.scalar(select(func.max(o.attempts))) in (1, 2)
    # Rows held at the kill were claimed again, but for those whose outcome the dead one's
    # journal kept (SQLite): stored from it as sent, not sent again.
    assert 0 < len(taken_twice) <= at_kill.get("sending", 0)
    assert repeated.keys() <= taken_twice
