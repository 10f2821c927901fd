"""A broadcast's figures per variant and phase, and over time: what `broadcast report` shows.

A broadcast's mail is its outbox rows (workflow `broadcast:NAME`, step = the variant, payload
phase all | test | rest), one per recipient. What became of each message is read from its
row, its tracking events (open, click, bounce, complaint, unsubscribe: the ones `reporting`
counts), the bounce reports about it (hard or soft), and the recipient's orders: a delivered
message converts when its recipient placed a counted order within the attribution window
after the send (`reporting.ordered_within`, the rule the workflow report measures by).
`broadcast_messages` holds that SQL and the rules for bounced and delivered.

The figures and the series come from three grouped statements (the rows; the messages with
reports; the messages with orders), grouped by variant, phase and the quarter hour of each
moment: Python only adds up the groups, so a broadcast to a million customers costs the same
three statements as one to ten.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailengine.broadcasts.figures import PHASES, VariantFigures
from mailengine.store.broadcast_messages import by_row, earned, engaged
from mailengine.store.broadcast_runs import CANCELLED_REPLY
from mailengine.store.outbox import outbox_table
from mailengine.store.sql_values import TimeSlot

Bucket = Literal["hour", "day"]
NO_REASON = "no reason given"
# Series are counted in quarter hours (every zone's offset is a multiple of 15 minutes), then
# gathered into the local hours or days of the shop's zone.
_SLOT_SECONDS = 900
_Counts = dict[str, Any]


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


@dataclass(frozen=True)
class BroadcastReport:
    """Each variant's figures (by name, split into `phases`), and the sends, first opens,
    first clicks and conversions per quarter hour (slots of 15 minutes since the epoch)."""

    variants: dict[str, VariantFigures]
    slots: dict[int, dict[str, int]]

    def series(self, bucket: Bucket, zone: ZoneInfo | None = None) -> list[SeriesPoint]:
        """The slots gathered into hours or days of `zone` (UTC by default), from the first
        send's to the last one with anything in it; empty before anything was sent."""
        zone = zone or ZoneInfo("UTC")
        sent = [slot for slot, figures in self.slots.items() if figures.get("sent")]
        if not sent:
            return []
        points: dict[datetime, dict[str, int]] = {}
        for slot in range(min(sent), max(self.slots) + 1):
            figures = points.setdefault(_bucket_start(slot, bucket, zone), defaultdict(int))
            for figure, count in self.slots.get(slot, {}).items():
                figures[figure] += count
        return [SeriesPoint(start.astimezone(zone), **found) for start, found in points.items()]


def broadcast_report(
    session: Session, broadcast_name: str, attribution: timedelta, now: datetime
) -> BroadcastReport:
    """The figures and the series in one go: three grouped statements."""
    key = broadcast_workflow(broadcast_name)
    counts: dict[tuple[str, str], _Counts] = defaultdict(_empty_counts)
    slots: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    _add_rows(session, key, counts, slots)
    _add_reports(session, key, counts, slots)
    _add_orders(session, key, attribution, now, counts, slots)
    phases: dict[str, dict[str, VariantFigures]] = defaultdict(dict)
    for (variant, phase), found in sorted(counts.items(), key=_variant_then_phase):
        reasons: dict[str, int] = found.pop("reasons")
        found["cancelled"] = reasons.pop(CANCELLED_REPLY, 0)
        found["skipped"] = sum(reasons.values())
        found["skip_reasons"] = dict(sorted(reasons.items()))
        phases[variant][phase] = VariantFigures(**found)
    variants: dict[str, VariantFigures] = {}
    for variant, parts in phases.items():
        combined = VariantFigures()
        for part in parts.values():
            combined = combined + part
        variants[variant] = replace(combined, phases=parts)
    return BroadcastReport(variants, {slot: dict(found) for slot, found in slots.items()})


def variant_figures(
    session: Session, broadcast_name: str, attribution: timedelta, now: datetime
) -> dict[str, VariantFigures]:
    """Each variant's figures (by name), split into `phases` (test cell, rest, or all)."""
    return broadcast_report(session, broadcast_name, attribution, now).variants


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
    return broadcast_report(session, name, attribution, now).series(bucket, zone)


def _empty_counts() -> _Counts:
    names = (
        "planned", "sent", "delivered", "bounced_hard", "bounced_soft", "opened", "clicked",
        "unsubscribed", "complained", "conversions", "revenue_minor", "paused", "waiting",
        "failed",
    )  # fmt: skip
    return {**dict.fromkeys(names, 0), "revenue_squares": 0.0, "reasons": {}}


_Slots = dict[int, dict[str, int]]


def _slot(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    return TimeSlot(column, _SLOT_SECONDS).label(name)


def _add_rows(
    session: Session, key: str, counts: dict[tuple[str, str], _Counts], slots: _Slots
) -> None:
    rows = by_row(key).add_columns(_slot(outbox_table.c.sent_at, "sent_slot")).subquery("rows")
    c = rows.c
    statement = select(
        c.variant, c.phase, c.reason, c.sent_slot, func.count(), func.sum(c.sent),
        func.sum(c.refused), func.sum(c.sent_refused), func.sum(c.render_error),
        func.sum(c.paused), func.sum(c.waiting), func.sum(c.suppressed),
    ).group_by(c.variant, c.phase, c.reason, c.sent_slot)  # fmt: skip
    for variant, phase, reason, slot, planned, *sums in session.execute(statement):
        sent, refused, sent_refused, render_error, paused, waiting, suppressed = map(int, sums)
        found = counts[(variant, phase)]
        found["planned"] += int(planned)
        found["sent"] += sent
        found["delivered"] += sent - sent_refused  # less the ones reports say bounced
        found["bounced_hard"] += refused
        found["failed"] += render_error
        found["paused"] += paused
        found["waiting"] += waiting
        if slot is not None:
            slots[int(slot)]["sent"] += sent
        if suppressed:
            head = (reason or "").strip() or NO_REASON
            head = CANCELLED_REPLY if head.startswith(CANCELLED_REPLY) else head
            found["reasons"][head] = found["reasons"].get(head, 0) + suppressed


def _add_reports(
    session: Session, key: str, counts: dict[tuple[str, str], _Counts], slots: _Slots
) -> None:
    reports = engaged(key).subquery("reports")
    first_open, first_click = reports.c.opened_at, reports.c.clicked_at
    slotted = select(reports, _slot(first_open, "opened_slot"), _slot(first_click, "clicked_slot"))
    rows = slotted.subquery("engaged")
    c = rows.c
    statement = select(
        c.variant, c.phase, c.opened_slot, c.clicked_slot, func.sum(c.reported_hard),
        func.sum(c.soft), func.sum(c.lost), func.sum(c.unsubscribed), func.sum(c.complained),
        func.count(c.opened_at), func.count(c.clicked_at),
    ).group_by(c.variant, c.phase, c.opened_slot, c.clicked_slot)  # fmt: skip
    for variant, phase, opened_slot, clicked_slot, *sums in session.execute(statement):
        hard, soft, lost, unsubscribed, complained, opened, clicked = map(int, sums)
        found = counts[(variant, phase)]
        found["bounced_hard"] += hard
        found["bounced_soft"] += soft
        found["delivered"] -= lost
        found["unsubscribed"] += unsubscribed
        found["complained"] += complained
        found["opened"] += opened
        found["clicked"] += clicked
        if opened_slot is not None:
            slots[int(opened_slot)]["opened"] += opened
        if clicked_slot is not None:
            slots[int(clicked_slot)]["clicked"] += clicked


def _add_orders(
    session: Session,
    key: str,
    attribution: timedelta,
    now: datetime,
    counts: dict[tuple[str, str], _Counts],
    slots: _Slots,
) -> None:
    orders = earned(key, attribution, now).subquery("orders")
    rows = select(orders, _slot(orders.c.ordered_at, "ordered_slot")).subquery("earned")
    c = rows.c
    statement = select(
        c.variant,
        c.phase,
        c.ordered_slot,
        func.count(),
        func.sum(c.revenue),
        # As a float: a million squares of large amounts would overflow SQLite's integers.
        func.sum(cast(c.revenue, Float) * c.revenue),
    ).group_by(c.variant, c.phase, c.ordered_slot)
    for variant, phase, slot, conversions, revenue, squares in session.execute(statement):
        found = counts[(variant, phase)]
        found["conversions"] += int(conversions)
        found["revenue_minor"] += int(revenue or 0)
        found["revenue_squares"] += float(squares or 0)
        slots[int(slot)]["conversions"] += int(conversions)


def _variant_then_phase(item: tuple[tuple[str, str], object]) -> tuple[str, int, str]:
    """Variants by name; a variant's phases as they happen: all or test, then the rest."""
    (variant, phase), _ = item
    order = PHASES.index(phase) if phase in PHASES else len(PHASES)
    return variant, order, phase


def _bucket_start(slot: int, bucket: Bucket, zone: ZoneInfo) -> datetime:
    """The UTC instant the slot's local hour or day begins (an hour repeated when clocks go
    back is two hours, told apart by their instants)."""
    moment = datetime.fromtimestamp(slot * _SLOT_SECONDS, UTC).astimezone(zone)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return datetime.combine(moment.date(), time(0), tzinfo=zone).astimezone(UTC)
