"""A broadcast's messages in the outbox: how many are in each state, and the send-time check
of messages whose broadcast was paused or cancelled after they were claimed.

May import the store's models and `store.broadcast_runs` (the broadcast's state)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlmodel import Session

from mailengine.store.broadcast_runs import WORKFLOW_PREFIX, broadcast_table
from mailengine.store.outbox import outbox_table

_b = broadcast_table.c
_o = outbox_table.c


def stopped_broadcasts(session: Session, workflows: Collection[str]) -> dict[str, str]:
    """Of these outbox `workflow` values, those of a paused or cancelled broadcast, with its
    state: the send-time check of messages already claimed (handed back by an engine that
    stopped, retried after a deferral) whose broadcast was paused or cancelled meanwhile.

    On PostgreSQL the broadcasts found stay share-locked until the caller's transaction ends
    (on SQLite its transaction holds the write lock): a resume waits until the caller has
    held their messages (`hold_claimed`), and then releases them with the others."""
    names = {w[len(WORKFLOW_PREFIX) :]: w for w in workflows if w.startswith(WORKFLOW_PREFIX)}
    if not names:
        return {}
    statement = select(_b.name, _b.state).where(
        _b.name.in_(names), _b.state.in_(("paused", "cancelled"))
    )
    if session.connection().dialect.name == "postgresql":
        statement = statement.with_for_update(read=True)
    return {names[str(name)]: str(state) for name, state in session.execute(statement)}


def hold_claimed(session: Session, worker: str, outbox_ids: Sequence[int], now: datetime) -> int:
    """Hold messages `worker` claimed as a pause holds them (state `paused`), as they were
    before the claim: a resume releases them with the others."""
    if not outbox_ids:
        return 0
    statement = (
        update(outbox_table)
        .where(_o.id.in_(outbox_ids), _o.claimed_by == worker, _o.state == "sending")
        .values(state="paused", attempts=_o.attempts - 1, claimed_by=None, updated_at=now)
    )
    result = session.connection().execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)


def outbox_states(session: Session, name: str) -> dict[str, int]:
    """How many of the broadcast's messages are in each outbox state."""
    rows = session.execute(
        select(_o.state, func.count())
        .where(_o.workflow == WORKFLOW_PREFIX + name)
        .group_by(_o.state)
    )
    return {str(state): int(count) for state, count in rows}


def outbox_states_of_all(session: Session) -> dict[str, dict[str, int]]:
    """Every broadcast's messages in each outbox state, by broadcast name (one statement)."""
    prefix = WORKFLOW_PREFIX
    rows = session.execute(
        select(_o.workflow, _o.state, func.count())
        .where(_o.workflow.startswith(prefix, autoescape=True))
        .group_by(_o.workflow, _o.state)
    )
    found: dict[str, dict[str, int]] = {}
    for workflow, state, count in rows:
        found.setdefault(str(workflow)[len(prefix) :], {})[str(state)] = int(count)
    return found
