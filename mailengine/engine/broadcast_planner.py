"""The engine's side of broadcasts: claim one that is due and plan it, chunk by chunk.

A broadcast is planned in phases: `all` (no test, or a plain split), or `test` (the test
cells) then, once the winner is due, `rest` (everyone else, the winner's mail). Each phase
walks the customers in id order up to the highest id when the phase began (the audience is
frozen then), one chunk per transaction: the claim is renewed and the cursor moved in the
same transaction that inserts the chunk's rows, so a crash loses at most the chunk in flight
and the next claim goes on from the cursor; rows planned twice are skipped by their keys.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.broadcasts.model import (
    Broadcast,
    LocalTime,
    ShopTime,
)
from mailengine.broadcasts.schedule import local_instant, shop_instant
from mailengine.config import Settings
from mailengine.engine.broadcast_cells import phase_cells, statement_plan
from mailengine.engine.facts import zone_of
from mailengine.engine.planner import ContactPressure
from mailengine.owners import owner_running
from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.broadcast_plan import (
    BroadcastPlan,
    DueTimes,
    chunk_end,
    customer_ids_max,
    plan_chunk,
    stored_timezones,
)
from mailengine.store.database import Database

log = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(minutes=2)  # renewed with every chunk
# Customer ids per chunk of an unthrottled phase. Each chunk's Message-IDs land all over the
# outbox's unique index of them, so every commit writes most of that index's pages again; on
# SQLite (WAL, then checkpoint) 100,000 ids a chunk wrote 1.5 GB for 720,000 rows, 20,000 wrote
# 3.2 GB. A chunk then holds SQLite's write lock for one to two seconds.
ID_SPAN = 100_000

# (session, broadcast, now) -> (the winning variant's name, a sentence on why)
WinnerPicker = Callable[[Session, Broadcast, datetime], tuple[str, str]]
# The stored broadcast as it was scheduled -> the model (raises ValueError if it no longer loads)
SourceReader = Callable[[BroadcastRun], Broadcast]


@dataclass
class PhaseCursor:
    """Where a phase stands: planned through customer id `after_id` of those up to `last_id`."""

    phase: str
    after_id: int = 0
    last_id: int | None = None
    chunks: int = 0
    started_at: str | None = None  # the phase's first send time (ISO), for throttled pacing

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "after_id": self.after_id, "last_id": self.last_id,
            "chunks": self.chunks, "started_at": self.started_at,
        }  # fmt: skip


class BroadcastPlanner:
    """Claims due broadcasts and plans them; every engine runs one, claims keep them apart."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        secret: bytes,
        worker_id: str,
        read_source: SourceReader,
        pick_winner: WinnerPicker,
    ) -> None:
        self.database = database
        self.settings = settings
        self._secret = secret
        self.worker_id = worker_id
        self._read = read_source
        self._pick_winner = pick_winner
        quiet = settings.contact_pressure.quiet_times()
        self._pressure = ContactPressure(
            max_per_period=settings.contact_pressure.max_marketing_emails,
            period=timedelta(days=settings.contact_pressure.per_days),
            quiet_start=quiet[0] if quiet else None,
            quiet_end=quiet[1] if quiet else None,
        )

    def run_due(self, now: Callable[[], datetime]) -> list[str]:
        """Plan every broadcast that is due, one after the other; their names."""
        planned: list[str] = []
        self._end_claims_of_ended_planners(now())
        while True:
            with self.database.transaction() as session:
                name = runs.claim_due(session, self.worker_id, now(), CLAIM_LEASE)
            if name is None:
                return planned
            try:
                self._plan(name, now)
            except Exception as error:  # the claim runs out and another try follows
                log.exception("planning broadcast %s failed", name)
                with self.database.transaction() as session:
                    runs.record_failure(session, name, self.worker_id, now(), str(error))
                return planned
            planned.append(name)

    def _end_claims_of_ended_planners(self, now: datetime) -> None:
        """A planner on this host whose process has ended (killed, crashed) gives its claim up
        at once; one elsewhere, or of unknown kind, keeps it until its lease runs out."""
        with self.database.session() as session:
            held = runs.planning_claims(session, now)
        for name, holder in held:
            if holder != self.worker_id and owner_running(holder) is False:
                with self.database.transaction() as session:
                    if runs.end_claim(session, name, holder, now):
                        log.info("broadcast %s: its planner %s has ended", name, holder)

    def _plan(self, name: str, now: Callable[[], datetime]) -> None:
        with self.database.session() as session:
            run = runs.load(session, name)
        if run is None:
            return
        broadcast = self._read(run)
        cursor = (
            PhaseCursor(**run.cursor)
            if run.cursor
            else PhaseCursor("test" if broadcast.winner is not None else "all")
        )
        winner = run.winner
        if cursor.phase == "rest" and winner is None:
            with self.database.transaction() as session:
                winner, why = self._pick_winner(session, broadcast, now())
                if not runs.hold_claim(
                    session, name, self.worker_id, now(), CLAIM_LEASE,
                    {"winner": winner, "winner_note": why[:500]},
                ):  # fmt: skip
                    return
            log.info("broadcast %s: variant %s won (%s)", name, winner, why)
        cells = phase_cells(broadcast, cursor.phase, winner, self.settings.currency)
        plan = statement_plan(broadcast, run, cells, self.settings, self._secret, now())
        if not self._walk(broadcast, plan, cursor, run.planned_count, now):
            return
        with self.database.transaction() as session:
            if cursor.phase == "test":
                assert broadcast.winner is not None
                started = datetime.fromisoformat(cursor.started_at or now().isoformat())
                rest = PhaseCursor("rest")
                runs.release(
                    session,
                    name,
                    self.worker_id,
                    now(),
                    "testing",
                    winner_at=max(started, now()) + broadcast.winner.after,
                    cursor=rest.as_json(),
                )
                log.info("broadcast %s: test cells planned, the winner is picked later", name)
            else:
                states = broadcast_outbox.outbox_states(session, name)
                runs.release(
                    session,
                    name,
                    self.worker_id,
                    now(),
                    "planned",
                    planned_at=now(),
                    cursor={**cursor.as_json(), "phase": "done"},
                    skipped_count=states.get("suppressed", 0),
                    planned_count=sum(states.values()),
                )
                log.info("broadcast %s: planned", name)

    def _walk(
        self,
        broadcast: Broadcast,
        plan: BroadcastPlan,
        cursor: PhaseCursor,
        planned: int,
        now: Callable[[], datetime],
    ) -> bool:
        """Plan the phase's chunks from the cursor on; False when the claim was lost."""
        with self.database.session() as session:
            if cursor.last_id is None:
                cursor.last_id = customer_ids_max(session)
                cursor.started_at = self._first_send(broadcast, cursor.phase, now()).isoformat()
            zones = stored_timezones(session)
        started = datetime.fromisoformat(cursor.started_at or now().isoformat())
        per_chunk = self._chunk_size(broadcast)
        at_once = self._chunks_at_once() if per_chunk is None else 1
        while cursor.after_id < cursor.last_id:
            due = self._due(broadcast, cursor.phase, started, cursor.chunks, zones, now())
            if at_once > 1:
                created = self._plan_round(broadcast.name, plan, cursor, at_once, due, planned, now)
            else:
                created = self._plan_next(
                    broadcast.name, plan, cursor, per_chunk, due, planned, now
                )
            if created is None:
                log.info("broadcast %s: planning stopped (paused or cancelled)", broadcast.name)
                return False
            planned += created
        return True

    def _chunks_at_once(self) -> int:
        if self.database.dialect != "postgresql":
            return 1
        return self.settings.engine.broadcast_planning_connections

    def _plan_next(
        self,
        name: str,
        plan: BroadcastPlan,
        cursor: PhaseCursor,
        per_chunk: int | None,
        due: DueTimes,
        planned: int,
        now: Callable[[], datetime],
    ) -> int | None:
        """Plan the next chunk with the cursor and the claim in its transaction; how many rows
        it added, None when the claim is gone. Moves `cursor`."""
        assert cursor.last_id is not None
        with self.database.bulk_transaction() as session:
            if per_chunk is None:
                upto = min(cursor.after_id + ID_SPAN, cursor.last_id)
            else:
                found = chunk_end(session, plan, cursor.after_id, per_chunk)
                upto = cursor.last_id if found is None else min(found, cursor.last_id)
            moved = PhaseCursor(
                cursor.phase, upto, cursor.last_id, cursor.chunks + 1, cursor.started_at
            )
            if not runs.hold_claim(
                session, name, self.worker_id, now(), CLAIM_LEASE, {"cursor": moved.as_json()}
            ):
                return None
            created = plan_chunk(session, plan, cursor.after_id, upto, due, now())
            runs.hold_claim(
                session, name, self.worker_id, now(), CLAIM_LEASE,
                {"planned_count": planned + created},
            )  # fmt: skip
        cursor.after_id, cursor.chunks = upto, moved.chunks
        return created

    def _plan_round(
        self,
        name: str,
        plan: BroadcastPlan,
        cursor: PhaseCursor,
        at_once: int,
        due: DueTimes,
        planned: int,
        now: Callable[[], datetime],
    ) -> int | None:
        """Plan the next `at_once` chunks at once, each in a transaction of its own on its own
        connection under a shared lock of the claim; then move the cursor past all of them.
        A crash before that replans them, and their keys skip what was planned."""
        assert cursor.last_id is not None
        spans: list[tuple[int, int]] = []
        after = cursor.after_id
        while len(spans) < at_once and after < cursor.last_id:
            spans.append((after, min(after + ID_SPAN, cursor.last_id)))
            after = spans[-1][1]

        def plan_span(span: tuple[int, int]) -> int | None:
            with self.database.bulk_transaction() as session:
                if not runs.share_claim(session, name, self.worker_id):
                    return None
                return plan_chunk(session, plan, span[0], span[1], due, now())

        with ThreadPoolExecutor(len(spans), thread_name_prefix="broadcast-plan") as pool:
            created = list(pool.map(plan_span, spans))
        if any(count is None for count in created):
            return None
        added = sum(count or 0 for count in created)
        moved = PhaseCursor(
            cursor.phase, after, cursor.last_id, cursor.chunks + len(spans), cursor.started_at
        )
        with self.database.transaction() as session:
            if not runs.hold_claim(
                session, name, self.worker_id, now(), CLAIM_LEASE,
                {"cursor": moved.as_json(), "planned_count": planned + added},
            ):  # fmt: skip
                return None
        cursor.after_id, cursor.chunks = after, moved.chunks
        return added

    def _first_send(self, broadcast: Broadcast, phase: str, now: datetime) -> datetime:
        """The phase's send time: the file's (shop zone), or now for the rest after a test."""
        send_at = broadcast.send_at
        if phase == "rest" or not isinstance(send_at, ShopTime):
            return now
        return max(shop_instant(send_at, self.settings.zone), now)

    def _chunk_size(self, broadcast: Broadcast) -> int | None:
        """A throttled broadcast plans a minute's worth per chunk, due a minute apart."""
        if broadcast.throttle is None:
            return None
        return max(1, math.ceil(broadcast.throttle.per_hour / 60))

    def _due(
        self,
        broadcast: Broadcast,
        phase: str,
        started: datetime,
        chunk: int,
        zones: list[str],
        now: datetime,
    ) -> DueTimes:
        """When this chunk's mail is due in the shop's zone and in each stored zone: the
        local hour (`local`), or the phase's start plus a minute per chunk (a throttle); never
        before now, and after the quiet hours of the customer's zone."""
        shop = self.settings.zone
        send_at = broadcast.send_at

        def due_in(zone: ZoneInfo) -> datetime:
            if isinstance(send_at, LocalTime) and phase != "rest":
                moment = local_instant(send_at, zone)
            else:
                moment = started + timedelta(minutes=chunk if broadcast.throttle else 0)
            moment = max(moment, now).astimezone(UTC)
            if broadcast.contact_pressure:
                quiet_end = self._pressure.quiet_until(moment, zone)
                if quiet_end is not None:
                    moment = quiet_end.astimezone(UTC)
            return moment

        return DueTimes(due_in(shop), {value: due_in(zone_of(value, shop)) for value in zones})
