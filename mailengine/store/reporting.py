"""Numbers about sends: the per-workflow, per-step report and the figures /metrics shows.

Conversions and revenue are orders placed within `window` after a touch (a send or a click)
and credited to the customer's last touch. Holdout members (outbox rows in state "suppressed"
with `payload["holdout"] = true`, written by the engine where it would have sent) are no
touch; the lift compares, per step, how many mailed customers and how many held-out
customers ordered within `window` after the send (or would-be send), whatever other mail they
got: both groups are measured the same way.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, union
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.store.api_queries import tracking_event_table
from mailengine.store.enrollments import version_table
from mailengine.store.models import UNCOUNTED_ORDER_STATUSES
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.store.sql_values import ShiftedTime

ALL_STEPS = "(all)"
RENDER_ERROR_PREFIX = "render error"
DEFAULT_WINDOW = timedelta(days=5)

StepKey = tuple[str, str]


@dataclass
class GroupOutcome:
    """Members of a group (mailed or held out) and what they ordered within the window."""

    members: int = 0
    converted: int = 0
    revenue_minor: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.members if self.members else None

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue_minor / self.members if self.members else None


@dataclass
class ReportRow:
    workflow: str
    step: str
    sent: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    suppressed: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    conversions: int = 0
    revenue_minor: int = 0
    mailed: GroupOutcome = field(default_factory=GroupOutcome)
    holdout: GroupOutcome = field(default_factory=GroupOutcome)
    # (placed_at, amount) of each order in `conversions`: the daily series are drawn from it
    credited: list[tuple[datetime, int]] = field(default_factory=list, repr=False)

    @property
    def revenue_per_recipient_minor(self) -> float | None:
        return self.revenue_minor / self.mailed.members if self.mailed.members else None

    @property
    def lift(self) -> float | None:
        """Relative gain in conversion rate of the mailed over the held-out customers."""
        mailed, held = self.mailed.conversion_rate, self.holdout.conversion_rate
        if mailed is None or not held:
            return None
        return mailed / held - 1

    @property
    def incremental_revenue_minor(self) -> float | None:
        """Revenue the mail added: mailed customers x (revenue per mailed - per held out)."""
        mailed, held = self.mailed.revenue_per_member, self.holdout.revenue_per_member
        if mailed is None or held is None:
            return None
        return (mailed - held) * self.mailed.members


@dataclass
class _Send:
    key: StepKey
    customer_id: int | None
    state: str
    at: datetime  # sent_at, or when planned for rows that were not sent
    holdout: bool


def build_report(
    session: Session,
    since: datetime,
    now: datetime,
    *,
    workflow: str | None = None,
    window: timedelta = DEFAULT_WINDOW,
) -> list[ReportRow]:
    """One row per workflow and step planned since `since`, then one `(all)` row per workflow."""
    sends = _sends(session, since)
    events = _events(session, since)
    rows: dict[StepKey, ReportRow] = {}
    for outbox_id, send in sends.items():
        row = rows.setdefault(send.key, ReportRow(*send.key))
        _count_state(row, send, events.get(outbox_id, set()))
    for outbox_id, kinds in events.items():
        sent = sends.get(outbox_id)
        if sent is None or sent.state != "sent":
            continue
        row = rows[sent.key]
        row.opened += bool(kinds & {"open", "click"})
        row.clicked += "click" in kinds
        row.unsubscribed += "unsubscribe" in kinds
    orders = _orders(session, {s.customer_id for s in sends.values() if s.customer_id}, since, now)
    _attribute(rows, sends, _clicks(session, since), orders, window)
    report: list[ReportRow] = []
    for name in sorted({key[0] for key in rows}):
        if workflow is not None and name != workflow:
            continue
        steps = [rows[key] for key in sorted(rows) if key[0] == name]
        report.extend(steps)
        report.append(_total(name, steps, sends, orders, window))
    return report


def _count_state(row: ReportRow, send: _Send, kinds: set[str]) -> None:
    if send.holdout:
        return
    if send.state == "sent":
        row.sent += 1
        if "bounce" in kinds:
            row.bounced += 1
        else:
            row.delivered += 1
    elif send.state == "failed":
        row.bounced += 1
    elif send.state == "deferred":
        row.deferred += 1
    elif send.state == "suppressed":
        row.suppressed += 1


def _sends(session: Session, since: datetime) -> dict[int, _Send]:
    o = outbox_table.c
    statement = (
        select(
            o.id,
            o.workflow,
            o.step,
            o.customer_id,
            o.state,
            func.coalesce(o.sent_at, o.created_at).label("at"),
            o.payload["holdout"].as_boolean().label("holdout"),
            o.last_reply,
        )
        .where(o.created_at >= since)
        .execution_options(yield_per=5000)
    )
    found: dict[int, _Send] = {}
    for row in session.execute(statement):
        if row.state == "failed" and (row.last_reply or "").startswith(RENDER_ERROR_PREFIX):
            continue  # our template broke: not a bounce, shown by /metrics instead
        holdout = bool(row.holdout) and row.state == "suppressed"
        found[row.id] = _Send((row.workflow, row.step), row.customer_id, row.state, row.at, holdout)
    return found


def _events(session: Session, since: datetime) -> dict[int, set[str]]:
    e, o = tracking_event_table.c, outbox_table.c
    statement = (
        select(e.outbox_id, e.kind)
        .distinct()
        .select_from(tracking_event_table.join(outbox_table, o.id == e.outbox_id))
        .where(o.created_at >= since)
    )
    found: dict[int, set[str]] = defaultdict(set)
    for outbox_id, kind in session.execute(statement):
        found[outbox_id].add(kind)
    return found


def _clicks(session: Session, since: datetime) -> list[tuple[int, datetime]]:
    e, o = tracking_event_table.c, outbox_table.c
    statement = (
        select(e.outbox_id, e.occurred_at)
        .select_from(tracking_event_table.join(outbox_table, o.id == e.outbox_id))
        .where(o.created_at >= since, e.kind == "click")
    )
    return [(outbox_id, at) for outbox_id, at in session.execute(statement)]


def _orders(
    session: Session, customer_ids: set[int], since: datetime, now: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """Counted orders of these customers placed in the period, by customer, oldest first."""
    o = order_table.c
    ids = sorted(customer_ids)
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for start in range(0, len(ids), 2000):
        statement = select(o.customer_id, o.placed_at, o.base_amount_minor).where(
            o.customer_id.in_(ids[start : start + 2000]),
            o.placed_at >= since,
            o.placed_at <= now,
            counted_order(),
        )
        for customer_id, placed_at, amount in session.execute(statement):
            found[customer_id].append((placed_at, int(amount)))
    for orders in found.values():
        orders.sort()
    return found


def _attribute(
    rows: dict[StepKey, ReportRow],
    sends: dict[int, _Send],
    clicks: Iterable[tuple[int, datetime]],
    orders: dict[int, list[tuple[datetime, int]]],
    window: timedelta,
) -> None:
    touches: dict[int, list[tuple[datetime, StepKey]]] = defaultdict(list)
    for send in sends.values():
        if send.state == "sent" and send.customer_id is not None:
            touches[send.customer_id].append((send.at, send.key))
    for outbox_id, at in clicks:
        clicked = sends.get(outbox_id)
        if clicked is not None and clicked.customer_id is not None:
            touches[clicked.customer_id].append((at, clicked.key))
    for customer_id, theirs in touches.items():
        theirs.sort()
        times = [at for at, _ in theirs]
        for placed_at, amount in orders.get(customer_id, []):
            index = bisect.bisect_right(times, placed_at) - 1
            if index >= 0 and placed_at - times[index] <= window:
                row = rows[theirs[index][1]]
                row.conversions += 1
                row.revenue_minor += amount
                row.credited.append((placed_at, amount))
    groups: dict[tuple[StepKey, bool], dict[int, list[datetime]]] = defaultdict(dict)
    for send in sends.values():
        if send.customer_id is not None and (send.state == "sent" or send.holdout):
            groups[(send.key, send.holdout)].setdefault(send.customer_id, []).append(send.at)
    for (key, held), members in groups.items():
        _measure(rows[key].holdout if held else rows[key].mailed, members, orders, window)


def counted_order() -> ColumnElement[bool]:
    """Orders that count as conversions: not cancelled or returned."""
    counted: ColumnElement[bool] = order_table.c.status.not_in(UNCOUNTED_ORDER_STATUSES)
    return counted


def ordered_within(
    sent_at: ColumnElement[Any], window: timedelta, now: datetime
) -> ColumnElement[bool]:
    """`_measure`'s rule in SQL, for queries that join orders to sends: a counted order
    placed from the send up to `window` after it (and by `now`). `window` is whole seconds."""
    placed_at = order_table.c.placed_at
    seconds = window.total_seconds()
    if seconds != int(seconds):
        raise ValueError(f"an attribution window is whole seconds, not {window}")
    return and_(
        placed_at >= sent_at,
        placed_at <= ShiftedTime(sent_at, int(seconds)),
        placed_at <= now,
        counted_order(),
    )


def _measure(
    outcome: GroupOutcome,
    members: dict[int, list[datetime]],
    orders: dict[int, list[tuple[datetime, int]]],
    window: timedelta,
) -> None:
    """Count members who ordered within `window` after any of their times, and that revenue."""
    for customer_id, times in members.items():
        outcome.members += 1
        inside = [
            amount
            for placed_at, amount in orders.get(customer_id, [])
            if any(at <= placed_at <= at + window for at in times)
        ]
        if inside:
            outcome.converted += 1
            outcome.revenue_minor += sum(inside)


def _total(
    name: str,
    steps: list[ReportRow],
    sends: dict[int, _Send],
    orders: dict[int, list[tuple[datetime, int]]],
    window: timedelta,
) -> ReportRow:
    total = ReportRow(name, ALL_STEPS)
    for row in steps:
        for counter in (
            "sent", "delivered", "deferred", "bounced", "suppressed", "opened", "clicked",
            "unsubscribed", "conversions", "revenue_minor",
        ):  # fmt: skip
            setattr(total, counter, getattr(total, counter) + getattr(row, counter))
        total.credited.extend(row.credited)
    mailed: dict[int, list[datetime]] = {}
    held: dict[int, list[datetime]] = {}
    for send in sends.values():
        if send.key[0] != name or send.customer_id is None:
            continue
        if send.holdout:
            held.setdefault(send.customer_id, []).append(send.at)
        elif send.state == "sent":
            mailed.setdefault(send.customer_id, []).append(send.at)
    _measure(total.mailed, mailed, orders, window)
    _measure(total.holdout, held, orders, window)
    return total


def reported_workflows(session: Session) -> list[str]:
    """Every workflow the store knows: ones that planned sends, and every stored version."""
    names = union(select(outbox_table.c.workflow), select(version_table.c.name))
    return sorted(str(name) for (name,) in session.execute(names) if name)


# --- figures for /metrics -------------------------------------------------------------------


def render_error_count(session: Session) -> int:
    o = outbox_table.c
    statement = select(func.count()).where(
        o.state == "failed", o.last_reply.like(RENDER_ERROR_PREFIX + "%")
    )
    return int(session.execute(statement).scalar_one())


def tracking_counts(session: Session) -> dict[str, int]:
    e = tracking_event_table.c
    statement = select(e.kind, func.count()).group_by(e.kind)
    return {kind: int(count) for kind, count in session.execute(statement)}
