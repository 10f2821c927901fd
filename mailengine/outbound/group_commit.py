"""Outcomes of several SMTP workers stored together: one transaction for all that arrive at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from mailengine.outbound.outcome_journal import OutcomeJournal, Recorded
from mailengine.store.records import SendOutcome

log = logging.getLogger(__name__)

__all__ = ["GroupCommit", "Recorded"]

Write = Callable[[Sequence[Recorded], datetime], None]  # outcomes, when the first was had


class GroupCommit:
    """Outcomes arriving together share a commit; `stored` is told of each group stored.

    Without a journal a worker waits for its outcome to be stored. A commit waits up to
    `linger` seconds for more outcomes, until every worker sending has one pending (none can
    come before that commit then): a transaction costs 0.3-1 ms of CPU whether it stores one
    outcome or eight.

    With a journal (`outcome_journal`) a worker waits only for its outcome to be in the
    journal; the outcomes are stored in groups as the database takes them, and a group that
    could not be stored is tried again with the next outcome or at the next `retry`. A group
    then waits up to `journal_linger` seconds for `journal_group` outcomes: nobody waits for
    it, and groups of ~8 (what 8 connections bring while one commits) cost ~0.07 ms of CPU
    an outcome on SQLite, groups of 30-40 (what 20 ms brings) ~0.025.
    """

    def __init__(
        self,
        write: Write,
        now: Callable[[], datetime],
        stored: Callable[[Sequence[Recorded]], None],
        *,
        linger: float = 0.002,
        journal: OutcomeJournal | None = None,
        journal_linger: float = 0.02,
        journal_group: int = 64,
    ) -> None:
        self._write = write
        self._now = now
        self._stored = stored
        self._linger = linger
        self._journal = journal
        self._journal_linger = journal_linger
        self._journal_group = journal_group
        self.busy = 0  # workers sending or recording: at most this many outcomes can wait
        # An earlier flow's outcomes that its journal still holds come first.
        self._pending: list[tuple[SendOutcome, str | None, datetime, asyncio.Future[None] | None]]
        self._pending = [
            (outcome, address, at, None)
            for (outcome, address), at in (journal.leftovers() if journal is not None else [])
        ]
        self._flushing: asyncio.Task[None] | None = None
        self._all_in: asyncio.Future[None] | None = None

    @property
    def unstored(self) -> int:
        """Outcomes handed in and not stored yet."""
        return len(self._pending)

    async def record(self, outcome: SendOutcome, suppress_address: str | None) -> None:
        """Until the outcome is stored, or (with a journal) kept in the journal."""
        at = self._now()
        if self._journal is not None:  # kept once it is written: nothing to wait for
            self._journal.append([(outcome, suppress_address)], at)
            self._pending.append((outcome, suppress_address, at, None))
            self._flush_soon()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, suppress_address, at, done))
        self._flush_soon()
        await done

    def _flush_soon(self) -> None:
        """Start storing what is pending, or end the wait of a commit that has enough now."""
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        elif self._all_in and not self._all_in.done() and len(self._pending) >= self._enough():
            self._all_in.set_result(None)

    def retry(self) -> None:
        """Try again to store what is pending (with a journal: after a failed group)."""
        if self._pending and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.create_task(self._flush())

    async def settle(self) -> None:
        """Until the outcomes handed in so far are stored (or failed)."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)

    def close(self) -> None:
        """Close the journal (kept while it holds outcomes not stored)."""
        if self._journal is not None:
            self._journal.close()

    async def _flush(self) -> None:
        while self._pending:
            await self._gather()
            items, self._pending = self._pending, []
            group = [(outcome, address) for outcome, address, _, _ in items]
            try:
                await asyncio.to_thread(self._write, group, min(at for _, _, at, _ in items))
            except Exception as error:
                if self._journal is None:  # each worker keeps its outcome for a later try
                    for _, _, _, done in items:
                        if done is not None and not done.done():
                            done.set_exception(error)
                    continue
                log.warning("storing %d journaled outcomes failed: %s", len(items), error)
                self._pending = items + self._pending
                return  # `retry` or the next outcome tries again
            if self._journal is not None:
                self._journal.keep_only([((o, a), at) for o, a, at, _ in self._pending])
            self._stored(group)
            for _, _, _, done in items:
                if done is not None and not done.done():
                    done.set_result(None)

    async def _gather(self) -> None:
        """Wait a little for more outcomes to share the commit: without a journal until every
        worker sending has one pending (up to `linger`), with one until `journal_group` are
        (up to `journal_linger`)."""
        linger = self._linger if self._journal is None else self._journal_linger
        if len(self._pending) >= self._enough() or linger <= 0:
            return
        self._all_in = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(linger):
                await self._all_in
        self._all_in = None

    def _enough(self) -> int:
        """Outcomes pending that end a commit's wait for more."""
        return self.busy if self._journal is None else self._journal_group
