"""A broadcast's figures per variant and phase, and over time: what `broadcast report` shows.

A broadcast's mail is its outbox rows (workflow `broadcast:NAME`, step = the variant, payload
phase all | test | rest), one per recipient. What became of each message is read from the
row (sent_at, state, last_reply), from its tracking events (open, click, bounce, complaint,
unsubscribe: the ones `reporting` counts), from the bounce reports about it (hard or soft, in
`bounce`), and from the recipient's orders: a delivered message converts when its recipient
placed a counted order within the attribution window after the send
(`reporting.ordered_within`, the rule the workflow report measures its groups by).

Each message is one of: delivered; bounced hard (refused at once, or a permanent bounce or a
`bounce` event came back); bounced soft (sent, a temporary failure came back, and no open or
click since: an open proves it arrived); or not sent (render error, skipped with a reason,
cancelled, paused, waiting). Opens, clicks and conversions count among delivered messages.

All of it is grouped in SQL over one per-message subquery: one statement for the figures, one
for the reasons of skipped messages, one for the time series. Python only sees the groups,
so a broadcast to a million customers costs the same few statements as one to ten.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, cast, func, literal, not_, or_, select, union_all
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.broadcasts.figures import PHASES, VariantFigures
from mailengine.store.api_queries import tracking_event_table
from mailengine.store.inbound_store import bounce_table
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.store.reporting import RENDER_ERROR_PREFIX, ordered_within
from mailengine.store.sql_values import TextHead, TimeSlot

Bucket = Literal["hour", "day"]
WAITING_STATES = ("queued", "sending", "deferred")
CANCELLED_PREFIX = "broadcast cancelled"
NO_REASON = "no reason given"
# Series are counted in quarter hours (every zone's offset is a multiple of 15 minutes), then
# gathered into the local hours or days of the shop's zone.
_SLOT_SECONDS = 900
_FIGURES = (
    "planned", "sent", "delivered", "bounced_hard", "bounced_soft", "opened", "clicked",
    "unsubscribed", "complained", "conversions", "revenue_minor", "revenue_squares",
    "paused", "waiting", "failed",
)  # fmt: skip


@dataclass(frozen=True)
class SeriesPoint:
    """What happened in one hour or day: messages sent, first opened, first clicked, and
    delivered messages whose recipient first ordered then (within the window)."""

    start: datetime  # the hour or day's beginning, in the zone asked for
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    conversions: int = 0


def broadcast_workflow(name: str) -> str:
    """The outbox's `workflow` for a broadcast's mail."""
    return f"broadcast:{name}"


def broadcast_names(session: Session) -> list[str]:
    """Every broadcast with mail in the outbox."""
    o = outbox_table.c
    prefix = broadcast_workflow("")
    statement = select(o.workflow).where(o.workflow.startswith(prefix, autoescape=True)).distinct()
    return sorted(str(workflow)[len(prefix) :] for workflow in session.scalars(statement))


def variant_figures(
    session: Session, broadcast_name: str, attribution: timedelta, now: datetime
) -> dict[str, VariantFigures]:
    """Each variant's figures (by name), split into `phases` (test cell, rest, or all)."""
    key = broadcast_workflow(broadcast_name)
    m = _messages(key, attribution, now).subquery("m")

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    statement = select(
        m.c.variant,
        m.c.phase,
        func.count(),
        func.sum(m.c.sent),
        func.sum(m.c.delivered),
        func.sum(m.c.hard),
        func.sum(m.c.soft),
        func.count(m.c.opened_at),
        func.count(m.c.clicked_at),
        func.sum(m.c.unsubscribed),
        func.sum(m.c.complained),
        func.count(m.c.revenue),
        func.coalesce(func.sum(m.c.revenue), 0),
        func.coalesce(func.sum(cast(m.c.revenue, Float) * m.c.revenue), 0.0),
        total(m.c.state == "paused"),
        total(m.c.state.in_(WAITING_STATES)),
        func.sum(m.c.failed),
    ).group_by(m.c.variant, m.c.phase)
    counts: dict[tuple[str, str], dict[str, Any]] = {}
    for variant, phase, *values in session.execute(statement):
        counts[(variant, phase)] = {
            name: float(value) if name == "revenue_squares" else int(value or 0)
            for name, value in zip(_FIGURES, values, strict=True)
        }
    for (variant, phase), reasons in _skip_reasons(session, key).items():
        found = counts.setdefault((variant, phase), dict.fromkeys(_FIGURES, 0))
        found["cancelled"] = reasons.pop(CANCELLED_PREFIX, 0)
        found["skipped"] = sum(reasons.values())
        found["skip_reasons"] = dict(sorted(reasons.items()))
    phases: dict[str, dict[str, VariantFigures]] = defaultdict(dict)
    for (variant, phase), found_counts in sorted(counts.items(), key=_variant_then_phase):
        phases[variant][phase] = VariantFigures(**found_counts)
    result: dict[str, VariantFigures] = {}
    for variant, parts in phases.items():
        combined = VariantFigures()
        for part in parts.values():
            combined = combined + part
        result[variant] = replace(combined, phases=parts)
    return result


def _variant_then_phase(item: tuple[tuple[str, str], object]) -> tuple[str, int, str]:
    """Variants by name; a variant's phases as they happen: all or test, then the rest."""
    (variant, phase), _ = item
    order = PHASES.index(phase) if phase in PHASES else len(PHASES)
    return variant, order, phase


def figures_over_time(
    session: Session,
    name: str,
    bucket: Bucket,
    *,
    attribution: timedelta,
    now: datetime,
    zone: ZoneInfo | None = None,
) -> list[SeriesPoint]:
    """Sent, opened, clicked and conversions per hour or day (of `zone`, UTC by default)
    from the hour or day of the first send to the last one with anything in it."""
    zone = zone or ZoneInfo("UTC")
    m = _messages(broadcast_workflow(name), attribution, now).cte("m")
    parts = []
    for figure, moment in (
        ("sent", m.c.sent_at),
        ("opened", m.c.opened_at),
        ("clicked", m.c.clicked_at),
        ("conversions", m.c.ordered_at),
    ):
        slot_of = TimeSlot(moment, _SLOT_SECONDS).label("slot")
        slots = (
            select(literal(figure).label("figure"), slot_of).where(moment.is_not(None)).subquery()
        )
        parts.append(
            select(slots.c.figure, slots.c.slot, func.count()).group_by(
                slots.c.figure, slots.c.slot
            )
        )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for figure, slot, count in session.execute(union_all(*parts)):
        found[int(slot)][figure] = int(count)
    sent = [slot for slot, figures in found.items() if figures.get("sent")]
    if not sent:
        return []
    first, last = min(sent), max(found)
    points: dict[datetime, dict[str, int]] = {}
    for slot in range(first, last + 1):
        figures = points.setdefault(_bucket_start(slot, bucket, zone), defaultdict(int))
        for figure, count in found.get(slot, {}).items():
            figures[figure] += count
    return [SeriesPoint(start.astimezone(zone), **figures) for start, figures in points.items()]


def _bucket_start(slot: int, bucket: Bucket, zone: ZoneInfo) -> datetime:
    """The UTC instant the slot's local hour or day begins (an hour repeated when clocks go
    back is two hours, told apart by their instants)."""
    moment = datetime.fromtimestamp(slot * _SLOT_SECONDS, UTC).astimezone(zone)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return datetime.combine(moment.date(), time(0), tzinfo=zone).astimezone(UTC)


def _skip_reasons(session: Session, key: str) -> dict[tuple[str, str], dict[str, int]]:
    """Suppressed messages by variant, phase and the head of their reason (up to a colon)."""
    o = outbox_table.c
    rows = (
        select(
            o.step.label("variant"),
            func.coalesce(o.payload["phase"].as_string(), "all").label("phase"),
            TextHead(o.last_reply).label("reason"),
        )
        .where(o.workflow == key, o.state == "suppressed")
        .subquery()
    )
    statement = select(rows.c.variant, rows.c.phase, rows.c.reason, func.count()).group_by(
        rows.c.variant, rows.c.phase, rows.c.reason
    )
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for variant, phase, reason, count in session.execute(statement):
        head = (reason or "").strip() or NO_REASON
        if head.startswith(CANCELLED_PREFIX):
            head = CANCELLED_PREFIX
        reasons = found[(variant, phase)]
        reasons[head] = reasons.get(head, 0) + int(count)
    return found


def _messages(key: str, attribution: timedelta, now: datetime) -> Select[Any]:
    """One row per message of the broadcast: its variant, phase, state, what became of it
    (0/1 columns), and when it was first opened, clicked, and ordered from."""
    o = outbox_table.c
    events = _events(key)
    earned = _earnings(key, attribution, now)
    sent = o.sent_at.is_not(None)
    render_error = and_(
        o.state == "failed", func.coalesce(o.last_reply, "").like(RENDER_ERROR_PREFIX + "%")
    )
    hard = or_(and_(o.state == "failed", not_(render_error)), func.coalesce(events.c.hard, 0) == 1)
    soft = and_(
        sent, not_(hard), func.coalesce(events.c.soft, 0) == 1, events.c.opened_at.is_(None)
    )
    delivered = and_(sent, not_(hard), not_(soft))

    def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    return (
        select(
            o.step.label("variant"),
            func.coalesce(o.payload["phase"].as_string(), "all").label("phase"),
            o.state,
            o.sent_at,
            flag(sent).label("sent"),
            flag(delivered).label("delivered"),
            flag(hard).label("hard"),
            flag(soft).label("soft"),
            flag(render_error).label("failed"),
            case((delivered, events.c.opened_at)).label("opened_at"),
            case((delivered, events.c.clicked_at)).label("clicked_at"),
            func.coalesce(events.c.unsubscribed, 0).label("unsubscribed"),
            func.coalesce(events.c.complained, 0).label("complained"),
            case((delivered, earned.c.revenue)).label("revenue"),
            case((delivered, earned.c.ordered_at)).label("ordered_at"),
        )
        .select_from(
            outbox_table.outerjoin(events, events.c.outbox_id == o.id).outerjoin(
                earned, earned.c.outbox_id == o.id
            )
        )
        .where(o.workflow == key)
    )


def _events(key: str) -> Subquery:
    """Per message with any tracking event or bounce report: first open (a click counts) and
    click, and 0/1 for unsubscribed, complained, bounced hard, bounced soft."""
    e, b, o = tracking_event_table.c, bounce_table.c, outbox_table.c
    tracked = (
        select(e.outbox_id.label("outbox_id"), e.kind.label("kind"), e.occurred_at.label("at"))
        .join_from(tracking_event_table, outbox_table, o.id == e.outbox_id)
        .where(o.workflow == key)
    )
    # A bounce report's kind is hard, soft or complaint; a complaint is one however it came.
    reported = (
        select(b.outbox_id, b.kind, b.occurred_at)
        .join_from(bounce_table, outbox_table, o.id == b.outbox_id)
        .where(o.workflow == key)
    )
    both = union_all(tracked, reported).subquery("both_events")

    def first(*kinds: str) -> ColumnElement[Any]:
        return func.min(case((both.c.kind.in_(kinds), both.c.at)))

    def has(*kinds: str) -> ColumnElement[int]:
        return func.max(case((both.c.kind.in_(kinds), 1), else_=0))

    return (
        select(
            both.c.outbox_id,
            first("open", "click").label("opened_at"),
            first("click").label("clicked_at"),
            has("unsubscribe").label("unsubscribed"),
            has("complaint").label("complained"),
            has("bounce", "hard").label("hard"),
            has("soft").label("soft"),
        )
        .group_by(both.c.outbox_id)
        .subquery("events")
    )


def _earnings(key: str, attribution: timedelta, now: datetime) -> Subquery:
    """Per sent message whose recipient ordered within the window: the orders' amount and
    when the first of them was placed."""
    o, r = outbox_table.c, order_table.c
    return (
        select(
            o.id.label("outbox_id"),
            func.sum(r.base_amount_minor).label("revenue"),
            func.min(r.placed_at).label("ordered_at"),
        )
        .join_from(
            outbox_table,
            order_table,
            and_(r.customer_id == o.customer_id, ordered_within(o.sent_at, attribution, now)),
        )
        .where(o.workflow == key, o.sent_at.is_not(None))
        .group_by(o.id)
        .subquery("earned")
    )
