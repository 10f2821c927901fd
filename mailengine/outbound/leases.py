"""The claims a dispatcher holds, when each was last renewed, and whether one still outlasts
a send.

A claim (an outbox row in `sending` with the dispatcher as `claimed_by`) lasts `lease` from
its `claimed_at`; another dispatcher may take the row up after that. The dispatcher renews
every claim it holds, the messages being sent and those taken ahead, every `renew_every`
seconds, and starts an SMTP transaction only while the claim, as last renewed, outlasts the
longest send of its transport. So even when renewal stops (the database out of reach from
here, the process stalled) no message is still being sent here when another may take it up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta


class Leases:
    """The claims one dispatcher holds: outbox id -> when the claim was last renewed."""

    def __init__(self, lease: timedelta, longest_send: timedelta) -> None:
        if lease <= longest_send:
            raise ValueError(
                f"a lease of {lease.total_seconds():g} s is not longer than the longest send "
                f"({longest_send.total_seconds():g} s): no message could ever be sent"
            )
        self.lease = lease
        self.longest_send = longest_send
        # Renewed this often, a claim keeps more than a send's time left between renewals.
        self.renew_every = min(lease / 4, (lease - longest_send) / 2).total_seconds()
        self._renewed: dict[int, datetime] = {}

    def __len__(self) -> int:
        return len(self._renewed)

    def hold(self, outbox_ids: Iterable[int], claimed_at: datetime) -> None:
        for outbox_id in outbox_ids:
            self._renewed[outbox_id] = claimed_at

    def let_go(self, outbox_ids: Iterable[int]) -> None:
        """No longer held here: recorded, handed back, or taken by another."""
        for outbox_id in outbox_ids:
            self._renewed.pop(outbox_id, None)

    def held(self) -> list[int]:
        return list(self._renewed)

    def renewed(self, asked: Sequence[int], renewed: set[int], at: datetime) -> list[int]:
        """Note a renewal at `at`; returns the claims asked for, still held, that were not
        renewed (another dispatcher holds them now), and lets go of them."""
        lost = []
        for outbox_id in asked:
            if outbox_id not in self._renewed:
                continue
            if outbox_id in renewed:
                self._renewed[outbox_id] = at
            else:
                lost.append(outbox_id)
                del self._renewed[outbox_id]
        return lost

    def outlasts_send(self, outbox_id: int, now: datetime) -> bool:
        """Whether a send started now ends while the claim, as last renewed, still holds."""
        renewed_at = self._renewed.get(outbox_id)
        return renewed_at is not None and renewed_at + self.lease - now > self.longest_send
