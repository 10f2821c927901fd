"""A scheduled broadcast as it was scheduled: its stored source read back into the model."""

from __future__ import annotations

from mailengine.broadcasts.loader import parse_broadcast_text
from mailengine.broadcasts.model import Broadcast
from mailengine.store.broadcast_models import BroadcastRun


class StoredBroadcastError(ValueError):
    """The stored source of a scheduled broadcast no longer loads (after an upgrade)."""


def read_stored(run: BroadcastRun) -> Broadcast:
    """The broadcast the row froze at scheduling; editing its file since changes nothing."""
    found, problems = parse_broadcast_text(run.source, run.path or f"{run.name} (stored)")
    if found is None:
        raise StoredBroadcastError("; ".join(str(problem) for problem in problems))
    return found
