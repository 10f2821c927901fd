"""Kill -9 a dispatcher in the middle of 10,000 mails, start another: nothing lost, the rows
the dead one held are taken up at once (not after their lease), and the only repeats are
messages that were on the wire at the kill, resent with their Message-ID."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailengine.store.database import Database
from mailengine.store.outbox import count_by_state, outbox_table
from tests.delivery.mass_send import (
    MessageIdRecorder,
    plan_for_consenting_customers,
    start_worker,
    write_note_template,
)
from tests.transport.conftest import start_server

MESSAGES = 10_000
CONNECTIONS = 4


@pytest.mark.slow
async def test_a_killed_dispatcher_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    database = Database(url)
    database.upgrade()
    expected = plan_for_consenting_customers(database, MESSAGES, datetime.now(UTC))
    templates = write_note_template(tmp_path / "templates")
    recorder = MessageIdRecorder(pause=0.002)
    server = await start_server(recorder)
    options = (f"--connections={CONNECTIONS}", "--batch-size=100")  # the lease: 10 minutes
    try:
        first = await start_worker(tmp_path, "first", url, server.port, templates, *options)
        await first.kill_when(lambda: len(recorder.arrivals) >= MESSAGES // 3, within=40)
        arrived_before_restart = len(recorder.arrivals)
        first_sessions = server.sessions
        with database.session() as session:
            at_kill = count_by_state(session)
        second = await start_worker(
            tmp_path, "second", url, server.port, templates, *options, "--until=all-final"
        )
        report = await second.finish(within=50)
    finally:
        await server.close()

    # The kill landed mid-run: mail had gone out, much was still to go.
    assert MESSAGES // 3 <= arrived_before_restart < MESSAGES
    assert at_kill.get("queued", 0) > 0
    # Every message arrived, each with the Message-ID planned for its recipient.
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for recipient, message_id in recorder.arrivals:
        by_recipient[recipient].append(message_id)
    assert by_recipient.keys() == expected.keys()
    assert all(set(ids) == {expected[rcpt]} for rcpt, ids in by_recipient.items())
    # Repeats only of what the killed dispatcher had on its connections.
    repeated = {rcpt: len(ids) - 1 for rcpt, ids in by_recipient.items() if len(ids) > 1}
    assert sum(repeated.values()) <= min(CONNECTIONS, first_sessions)
    assert all(count == 1 for count in repeated.values())
    assert report["sent"] == MESSAGES - at_kill["sent"]
    # The outbox agrees; rows the dead dispatcher held were claimed again at once.
    o = outbox_table.c
    with database.session() as session:
        assert count_by_state(session) == {"sent": MESSAGES}
        taken_twice = set(session.scalars(select(o.recipient).where(o.attempts == 2)))
        assert session.scalar(select(func.max(o.attempts))) in (1, 2)
    assert at_kill.get("sending", 0) == len(taken_twice)
    assert repeated.keys() <= taken_twice
    database.dispose()
