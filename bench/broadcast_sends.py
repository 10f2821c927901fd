"""The pipeline bench's sends planned as a broadcast (`pipeline_bench.py --broadcast`).

The same template, subject and preheader as the bench's weekly-offers workflow, as a plain
broadcast due at the bench's clock, scheduled and planned by `BroadcastPlanner.run_due` as an
engine plans it. A broadcast goes to its whole audience; the rows past the first `messages`
(by outbox id) are then dropped, so that both paths send the same number of messages.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from mailengine.broadcasts.loader import parse_broadcast_text
from mailengine.broadcasts.model import Broadcast
from mailengine.broadcasts.timing import plan_start
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.broadcast_planner import BroadcastPlanner, WinnerPicker
from mailengine.engine.broadcast_sources import read_stored
from mailengine.engine.broadcast_winner import pick_winner
from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table

NAME = "weekly-offers"
BROADCAST = """\
name: weekly-offers
template: weekly/offers
subject: "{{{{ customer.first_name | default('Hallo') }}}}, unsere Angebote der Woche"
preheader: "Neu eingetroffen, in deiner Größe."
send_at: "{send_at}"
tracking: {tracking}
"""


def write_broadcast(folder: Path, now: datetime, tracking: bool) -> Path:
    """The broadcast file, due at `now` (in the shop's zone), in folder/broadcasts."""
    send_at = now.astimezone(Settings().zone).strftime("%Y-%m-%d %H:%M")
    path = folder / "broadcasts" / f"{NAME}.yaml"
    path.parent.mkdir(exist_ok=True)
    text = BROADCAST.format(send_at=send_at, tracking=str(tracking).lower())
    path.write_text(text, encoding="utf-8")
    return path


def schedule(
    database: Database, source: str, path: str, secret: bytes, pick: WinnerPicker | None = None
) -> tuple[BroadcastPlanner, Broadcast]:
    """Store the broadcast as `schedule` does (due when the engine would plan it), and a
    planner as the engine makes one (`pick` in place of its winner picker); the broadcast."""
    settings = Settings()
    made, problems = parse_broadcast_text(source, path)
    if made is None:
        raise SystemExit("\n".join(str(problem) for problem in problems))
    planner = BroadcastPlanner(
        database, settings, secret=secret, worker_id="bench", read_source=read_stored,
        pick_winner=pick or pick_winner(settings),
    )  # fmt: skip
    start = plan_start(made, settings.zone)
    with database.transaction() as session:
        runs.schedule(
            session, name=made.name, origin="file", path=path, version="bench", source=source,
            plan_at=start, now=start, by=None,
        )  # fmt: skip
    return planner, made


def plan_broadcast(
    url: str, path: Path, messages: int, now: datetime, secret: bytes
) -> tuple[int, float]:
    """Schedule the broadcast afresh and plan it: (rows left after the trim, seconds the
    planning took, the trim not included)."""
    database = Database(url)
    with database.transaction() as session:
        session.execute(delete(runs.broadcast_table))
    planner, _ = schedule(database, path.read_text(encoding="utf-8"), str(path), secret)
    started = time.perf_counter()
    planned = planner.run_due(FrozenClock(now).now)
    seconds = time.perf_counter() - started
    if planned != [NAME]:
        raise SystemExit(f"the broadcast {NAME} was not planned: see the log")
    o = outbox_table.c
    mine = o.workflow == f"broadcast:{NAME}"
    with database.transaction() as session:
        ids = select(o.id).where(mine).order_by(o.id).offset(messages).limit(1)
        first_extra = session.execute(ids).scalar_one_or_none()
        if first_extra is not None:
            session.execute(delete(outbox_table).where(mine, o.id >= first_extra))
        left = session.execute(select(func.count()).where(mine)).scalar_one()
    database.dispose()
    return int(left), seconds
