"""Stored broadcasts read back from the source frozen when they were scheduled.

Each stored version's source is parsed once and kept, so that a page listing topics or a
list of broadcasts costs one small query, not a YAML parse per broadcast ever sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from mailengine.broadcasts.loader import parse_broadcast_text
from mailengine.broadcasts.model import Broadcast
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.broadcast_runs import broadcast_table


@dataclass
class StoredBroadcasts:
    """Stored broadcasts as their source says, each (name, version) parsed once."""

    _parsed: dict[tuple[str, str], Broadcast | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, run: BroadcastRun) -> Broadcast | None:
        """The broadcast as it was stored; None when its source no longer loads."""
        key = (run.name, run.version)
        with self._lock:
            if key in self._parsed:
                return self._parsed[key]
        found, _ = parse_broadcast_text(run.source, run.path or f"{run.name} (stored)")
        with self._lock:
            self._parsed[key] = found
        return found

    def topics(self, session: Session) -> set[str]:
        """The topic of every stored broadcast."""
        b = broadcast_table.c
        versions = session.execute(select(b.name, b.version)).all()
        unread = [name for name, version in versions if (name, version) not in self._parsed]
        if unread:
            rows = session.execute(select(broadcast_table).where(b.name.in_(unread))).mappings()
            for row in rows:
                self.read(BroadcastRun(**row))
        found = (self._parsed.get((name, version)) for name, version in versions)
        return {item.topic for item in found if item is not None}
