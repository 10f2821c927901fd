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
    could not be stored is tried again with the next outcome or at the next `retry`.
    """

    def __init__(
        self,
        write: Write,
        now: Callable[[], datetime],
        stored: Callable[[Sequence[Recorded]], None],
        *,
        linger: float = 0.002,
        journal: OutcomeJournal | None = None,
    ) -> None:
        self._write = write
        self._now = now
        self._stored = stored
        self._linger = linger
        self._journal = journal
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
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._journal is not None:
            self._journal.append([(outcome, suppress_address)], at)
            done.set_result(None)
        self._pending.append((outcome, suppress_address, at, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        elif len(self._pending) >= self.busy and self._all_in and not self._all_in.done():
            self._all_in.set_result(None)
        await done

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
            if self._journal is None and len(self._pending) < self.busy:
                self._all_in = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        await self._all_in
                self._all_in = None
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
