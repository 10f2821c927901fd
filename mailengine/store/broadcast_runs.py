"""Where each scheduled broadcast stands, and the moves between its states.

Every move is one conditional UPDATE, so that two engines, or an engine and the CLI, never
both win: a broadcast is claimed for planning only by whoever turns its state from due to
`planning`; a planner writes each chunk only while it still holds the claim (a pause or a
cancel takes it away); a pause holds the mail already planned in the outbox (state
`paused`) and a resume lets it go; a cancel drops whatever has not left yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Interval, Update, and_, func, insert, literal, or_, select, update
from sqlmodel import Session

from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.outbox import outbox_table

broadcast_table = BroadcastRun.__table__  # type: ignore[attr-defined]
_b = broadcast_table.c
_o = outbox_table.c
CANCELLED_REPLY = "broadcast cancelled"
WORKFLOW_PREFIX = "broadcast:"  # the outbox's `workflow` of a broadcast's mail: broadcast:NAME
# States from which the mail of a broadcast may still be planned or sent.
LIVE_STATES = ("scheduled", "planning", "testing", "planned")


@dataclass(frozen=True)
class Scheduled:
    """What scheduling did: `created`, `unchanged`, `updated` (a new version before any
    planning), or `refused` with the reason."""

    outcome: str
    reason: str = ""


@dataclass(frozen=True)
class Moved:
    """What a pause, resume or cancel did: whether it applied, and to how many messages."""

    applied: bool
    messages: int = 0
    reason: str = ""


def schedule(
    session: Session,
    *,
    name: str,
    origin: str,
    path: str | None,
    version: str,
    source: str,
    plan_at: datetime,
    now: datetime,
    by: str | None,
    replace: bool = True,
) -> Scheduled:
    """Store the broadcast as it is now, due for planning at `plan_at`.

    A name is sent once: scheduling it again changes nothing once planning has begun (its
    customers' idempotency keys are taken), and a cancelled name stays cancelled. A name
    belongs to where it was first scheduled from (a file, or the API); `replace` False
    refuses another version even before planning (the API: a name is created once).
    """
    found = session.execute(
        select(_b.state, _b.version, _b.plan_at, _b.origin).where(_b.name == name).with_for_update()
    ).first()
    if found is None:
        session.execute(
            insert(broadcast_table).values(
                name=name,
                origin=origin,
                path=path,
                version=version,
                source=source,
                state="scheduled",
                plan_at=plan_at,
                planned_count=0,
                skipped_count=0,
                cursor={},
                scheduled_by=by,
                created_at=now,
                updated_at=now,
            )
        )
        return Scheduled("created")
    state, stored_version, stored_plan_at, stored_origin = found
    if stored_origin != origin:
        came = "through the API" if stored_origin == "api" else "from a broadcast file"
        return Scheduled("refused", f"{name} was scheduled {came}; a name is sent once")
    if state == "cancelled":
        return Scheduled("refused", f"{name} was cancelled; a name is sent once, use a new one")
    if stored_version == version and stored_plan_at == plan_at:
        return Scheduled("unchanged")
    if not replace:
        return Scheduled("refused", f"{name} is taken by another broadcast; use a new name")
    if state != "scheduled":
        return Scheduled("refused", f"{name} is {state}: what is planned stays as it was scheduled")
    session.execute(
        update(broadcast_table)
        .where(_b.name == name, _b.state == "scheduled")
        .values(version=version, source=source, plan_at=plan_at, path=path, updated_at=now)
    )
    return Scheduled("updated")


def claim_due(session: Session, worker: str, now: datetime, lease: timedelta) -> str | None:
    """Claim one broadcast with planning to do now for `worker`; its name, or None.

    Due: scheduled and its time has come; testing and its winner is due; or planning under a
    claim whose lease ran out (its planner died)."""
    due = or_(
        and_(_b.state == "scheduled", _b.plan_at <= now),
        and_(_b.state == "testing", _b.winner_at <= now),
        and_(_b.state == "planning", _b.claimed_until <= now),
    )
    names = session.execute(select(_b.name).where(due).order_by(_b.plan_at, _b.name).limit(5))
    for name in names.scalars().all():
        claimed = _changed(
            session,
            update(broadcast_table)
            .where(_b.name == name, due)
            .values(state="planning", claimed_by=worker, claimed_until=now + lease, updated_at=now),
        )
        if claimed == 1:
            return str(name)
    return None


def planning_claims(session: Session, now: datetime) -> list[tuple[str, str]]:
    """(name, holder) of every broadcast being planned under a claim that has not run out."""
    rows = session.execute(
        select(_b.name, _b.claimed_by).where(
            _b.state == "planning", _b.claimed_until > now, _b.claimed_by.is_not(None)
        )
    )
    return [(str(name), str(holder)) for name, holder in rows]


def end_claim(session: Session, name: str, holder: str, now: datetime) -> bool:
    """Let `holder`'s claim run out now (its process has ended), so that the next
    `claim_due` goes on from its cursor without waiting for the lease."""
    changed = _changed(
        session,
        update(broadcast_table)
        .where(_b.name == name, _b.state == "planning", _b.claimed_by == holder)
        .values(claimed_until=now, updated_at=now),
    )
    return changed == 1


def load(session: Session, name: str) -> BroadcastRun | None:
    row = session.execute(select(broadcast_table).where(_b.name == name)).mappings().first()
    return BroadcastRun(**row) if row is not None else None


def all_runs(session: Session) -> list[BroadcastRun]:
    rows = session.execute(select(broadcast_table).order_by(_b.plan_at, _b.name)).mappings()
    return [BroadcastRun(**row) for row in rows]


def stored_states(session: Session) -> dict[str, str]:
    """Each scheduled broadcast's state, by name."""
    return {str(n): str(s) for n, s in session.execute(select(_b.name, _b.state))}


def hold_claim(
    session: Session,
    name: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    changes: dict[str, Any] | None = None,
) -> bool:
    """Renew `worker`'s claim and write `changes` (the cursor, counts) in the same statement;
    False when the claim is gone (paused, cancelled, or taken after the lease ran out). Call
    it first in a chunk's transaction: on PostgreSQL it then holds the row until the chunk
    commits, so that a pause waits for the chunk and holds its rows too."""
    values = {"claimed_until": now + lease, "updated_at": now, **(changes or {})}
    result = _changed(
        session,
        update(broadcast_table)
        .where(_b.name == name, _b.state == "planning", _b.claimed_by == worker)
        .values(**values),
    )
    return result == 1


def share_claim(session: Session, name: str, worker: str) -> bool:
    """Whether `worker` still holds the claim, keeping the row from changing (FOR SHARE) until
    the transaction ends: chunks planned at once on several connections each take it, so that
    a pause or cancel waits for all of them and then holds or drops their rows too. SQLite
    has one writer at a time, which keeps them apart already."""
    found = session.execute(
        select(_b.name)
        .where(_b.name == name, _b.state == "planning", _b.claimed_by == worker)
        .with_for_update(read=True)
    ).first()
    return found is not None


def release(
    session: Session, name: str, worker: str, now: datetime, state: str, **values: Any
) -> bool:
    """End `worker`'s claim, leaving the broadcast in `state` (testing or planned)."""
    result = _changed(
        session,
        update(broadcast_table)
        .where(_b.name == name, _b.state == "planning", _b.claimed_by == worker)
        .values(state=state, claimed_by=None, claimed_until=None, updated_at=now, **values),
    )
    return result == 1


def record_failure(session: Session, name: str, worker: str, now: datetime, note: str) -> None:
    """Planning failed: leave the claim to run out (it is retried) and say why."""
    session.execute(
        update(broadcast_table)
        .where(_b.name == name, _b.claimed_by == worker)
        .values(note=note[:1000], updated_at=now)
    )


def pause(session: Session, name: str, now: datetime) -> Moved:
    """Stop planning and hold every planned message that has not left."""
    state = _state_for_update(session, name)
    if state is None:
        return Moved(False, reason=f"no broadcast {name} is scheduled")
    if state not in LIVE_STATES:
        return Moved(False, reason=f"{name} is {state}")
    session.execute(
        update(broadcast_table)
        .where(_b.name == name)
        .values(
            state="paused",
            paused_state=state,
            paused_at=now,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    held = _changed(
        session,
        update(outbox_table)
        .where(_o.workflow == f"broadcast:{name}", _o.state.in_(("queued", "deferred")))
        .values(state="paused", updated_at=now),
    )
    return Moved(True, held)


def resume(session: Session, name: str, now: datetime, shift: bool) -> Moved:
    """Go on from where the pause stopped; with `shift` (a throttled broadcast) every held
    message, and the pace of what is still to plan, is moved later by the pause's length, so
    that the throttle's pace holds."""
    found = session.execute(
        select(_b.state, _b.paused_state, _b.paused_at, _b.cursor)
        .where(_b.name == name)
        .with_for_update()
    ).first()
    if found is None:
        return Moved(False, reason=f"no broadcast {name} is scheduled")
    state, paused_state, paused_at, cursor = found
    if state != "paused":
        return Moved(False, reason=f"{name} is {state}, not paused")
    # Planning that was under way goes on under a fresh claim, from its cursor.
    back = "planning" if paused_state == "planning" else paused_state
    run: dict[str, Any] = {
        "state": back,
        "paused_state": None,
        "paused_at": None,
        "updated_at": now,
        "claimed_by": None,
        "claimed_until": now if back == "planning" else None,
    }
    values: dict[str, Any] = {"state": "queued", "updated_at": now}
    if shift and paused_at is not None:
        values["next_attempt_at"] = _later(session, _o.next_attempt_at, now - paused_at)
        run["cursor"] = _paced_later(cursor or {}, now - paused_at)
    session.execute(update(broadcast_table).where(_b.name == name).values(**run))
    released = _changed(
        session,
        update(outbox_table)
        .where(_o.workflow == f"broadcast:{name}", _o.state == "paused")
        .values(**values),
    )
    return Moved(True, released)


def cancel(session: Session, name: str, now: datetime) -> Moved:
    """Drop every planned message that has not left; a name cancelled stays cancelled."""
    state = _state_for_update(session, name)
    if state is None:
        return Moved(False, reason=f"no broadcast {name} is scheduled")
    if state == "cancelled":
        return Moved(False, reason=f"{name} is already cancelled")
    session.execute(
        update(broadcast_table)
        .where(_b.name == name)
        .values(
            state="cancelled",
            cancelled_at=now,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    dropped = _changed(
        session,
        update(outbox_table)
        .where(
            _o.workflow == f"broadcast:{name}",
            _o.state.in_(("queued", "deferred", "paused")),
        )
        .values(state="suppressed", last_reply=CANCELLED_REPLY, updated_at=now),
    )
    return Moved(True, dropped)


def _state_for_update(session: Session, name: str) -> str | None:
    found = session.execute(
        select(_b.state).where(_b.name == name).with_for_update()
    ).scalar_one_or_none()
    return str(found) if found is not None else None


def _changed(session: Session, statement: Update) -> int:
    """Run an UPDATE; how many rows it changed."""
    result = session.connection().execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)


def _paced_later(cursor: dict[str, Any], delta: timedelta) -> dict[str, Any]:
    """The planning cursor with its phase's first send time (`started_at`, from which a
    throttled phase's chunks are paced a minute apart) moved `delta` later: the chunks still
    to plan after a resume follow the held ones, which move as much, at the same pace, rather
    than all being due at once."""
    started = cursor.get("started_at")
    if not isinstance(started, str):
        return cursor
    return {**cursor, "started_at": (datetime.fromisoformat(started) + delta).isoformat()}


def _later(session: Session, column: Any, delta: timedelta) -> Any:
    """`column + delta` in SQL. SQLite keeps times as UTCDateTime's text, which its date
    functions read and write (to the millisecond; the padding keeps the text's width)."""
    if session.connection().dialect.name == "postgresql":
        return column + literal(delta, Interval())
    days = delta.total_seconds() / 86400
    return func.strftime("%Y-%m-%d %H:%M:%f", func.julianday(column) + days).concat("000")
