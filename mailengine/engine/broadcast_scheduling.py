"""Scheduling a broadcast file as it is now, for `mailengine broadcast schedule` and the
studio's Schedule button: the checks `validate` makes (`broadcast_checks`), whether its send
time has passed (`broadcasts.timing`), then the stored broadcast (`store.broadcast_runs`).
Both callers go through here, so that neither schedules what the other would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.timing import Timing, timing
from mailengine.config import Settings
from mailengine.engine.broadcast_checks import BroadcastCheck, check_for_schedule
from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database


@dataclass(frozen=True)
class FileScheduling:
    """What came of it: `check` holds the problems that stopped it; `when` says whether the
    send time has passed (then nothing was stored); `stored` is what scheduling did."""

    check: BroadcastCheck
    when: Timing | None = None
    stored: runs.Scheduled | None = None

    @property
    def done(self) -> bool:
        return self.stored is not None and self.stored.outcome != "refused"


def schedule_file(
    settings: Settings,
    database: Database,
    broadcast: Broadcast,
    now: datetime,
    *,
    source: str,
    at_once: bool,
    by: str,
) -> FileScheduling:
    """Check the broadcast, and store it with its file's text (`source`) unless a check
    fails or its send time has passed (`at_once`: plan it now instead of before send_at)."""
    checked = check_for_schedule(settings, database, broadcast, now)
    if not checked.ok:
        return FileScheduling(checked)
    when = timing(broadcast, settings.zone, now, at_once)
    if when.passed:
        return FileScheduling(checked, when)
    with database.transaction() as session:
        stored = runs.schedule(
            session, name=broadcast.name, origin="file", path=broadcast.path,
            version=broadcast.version, source=source, plan_at=when.plan_at, now=now, by=by,
        )  # fmt: skip
    return FileScheduling(checked, when, stored)
