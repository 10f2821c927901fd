"""Outcomes stored from a dispatcher's journal, and the claims of dispatchers that ended on this
host taken back: their journaled outcomes stored first, then what they still held due again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from mailengine.outbound.outcome_journal import Recorded, journals
from mailengine.owners import owner_running
from mailengine.store.database import Database
from mailengine.store.outbox import (
    claim_holders,
    hand_back_claims,
    record_outcomes,
    record_outcomes_alone,
)
from mailengine.store.suppressions import suppress

log = logging.getLogger(__name__)


def write_outcomes_of(
    database: Database, worker: str, items: Sequence[Recorded], at: datetime
) -> None:
    """Store outcomes of `worker`'s claims (had at `at`), and suppress hard-bounced addresses."""
    if database.dialect == "postgresql" and all(address is None for _, address in items):
        # Nothing to suppress: one statement, in a transaction of its own.
        record_outcomes_alone(database.engine, worker, [outcome for outcome, _ in items], at)
        return
    with database.transaction() as session:
        record_outcomes(session, worker, [outcome for outcome, _ in items], at)
        for outcome, address in items:
            if address is not None:
                suppress(session, address, "hard-bounce", at, outcome.reply or "")


def store_journaled(database: Database, folder: Path | None, whose: Callable[[str], bool]) -> int:
    """Store the outcomes that the journals in `folder` of `whose` dispatchers kept, and remove
    the journals; returns how many were stored. An outcome stored before changes nothing (only
    rows their dispatcher still holds take one)."""
    stored = 0
    for journal in journals(folder):
        if not whose(journal.worker):
            continue
        if journal.items:
            at = min(when for _, when in journal.items)
            write_outcomes_of(database, journal.worker, [item for item, _ in journal.items], at)
            stored += len(journal.items)
            log.warning(
                "outbox: %d outcomes journaled by %s stored", len(journal.items), journal.worker
            )
        journal.path.unlink(missing_ok=True)
    return stored


def hand_back_ended_holders(database: Database, me: str, folder: Path | None, now: datetime) -> int:
    """Claims whose holder ran on this host and has ended are due again at once (the rest come
    back by lease), once the outcomes its journal kept are stored; a holder still running is
    never touched. Returns how many were handed back."""

    def ended(holder: str) -> bool:
        return holder != me and owner_running(holder) is False

    store_journaled(database, folder, ended)
    with database.session() as session:
        holders = sorted(h for h in claim_holders(session) if ended(h))
    if not holders:
        return 0
    with database.transaction() as session:
        count = hand_back_claims(session, holders, now, "handed back: its dispatcher had ended")
    log.warning(
        "outbox: %d messages held by %s, which ended, are due again", count, ", ".join(holders)
    )
    return count
