"""The SQL behind a broadcast's report: what became of each of its messages, in three parts.

- `by_row`: every message, from its outbox row alone (sent or not, refused, render error,
  paused, waiting, the reason it was skipped), grouped by variant, phase and that reason.
- `engaged`: one row per message with a tracking event or a bounce report about it.
- `earned`: one row per sent message whose recipient placed a counted order within the
  attribution window after the send (`reporting.ordered_within`).

Only these three touch the broadcast's rows; no statement joins a million messages to their
events one by one. Whether a message was delivered takes its row and its reports together,
so `engaged` and `earned` decide it with the same expressions (`_Delivery`):

- bounced hard: refused (state `failed`, not a render error: refused at once, or marked so
  when a permanent bounce came back), or a `bounce` event or a hard bounce report;
- bounced soft: sent, not hard, a soft bounce report, and no open or click (one proves it
  arrived);
- delivered: sent and neither.

A message without any report is delivered exactly when it was sent and not refused; `by_row`
counts those, and the report subtracts the ones `engaged` finds bounced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, not_, or_, select, union_all
from sqlalchemy.sql import FromClause, Select, Subquery
from sqlalchemy.sql.elements import ColumnElement

from mailengine.store.api_queries import tracking_event_table
from mailengine.store.inbound_store import bounce_table
from mailengine.store.orders import order_table
from mailengine.store.outbox import outbox_table
from mailengine.store.reporting import RENDER_ERROR_PREFIX, ordered_within
from mailengine.store.sql_values import TextHead

WAITING_STATES = ("queued", "sending", "deferred")


@dataclass(frozen=True)
class _Row:
    """What a message's outbox row alone says."""

    sent: ColumnElement[bool]  # accepted by the receiving server
    render_error: ColumnElement[bool]
    refused: ColumnElement[bool]  # failed, and not because of our template


@dataclass(frozen=True)
class _Delivery:
    """What its row and the reports about it say together (see the module's docstring)."""

    reported_hard: ColumnElement[bool]  # hard by a report, though the row is not refused
    soft: ColumnElement[bool]
    delivered: ColumnElement[bool]


def _row() -> _Row:
    o = outbox_table.c
    failed = o.state == "failed"
    render_error = and_(failed, func.coalesce(o.last_reply, "").like(RENDER_ERROR_PREFIX + "%"))
    return _Row(o.sent_at.is_not(None), render_error, and_(failed, not_(render_error)))


def _delivery(events: FromClause) -> _Delivery:
    row, e = _row(), events.c
    reported_hard = and_(not_(row.refused), func.coalesce(e.hard, 0) == 1)
    hard = or_(row.refused, reported_hard)
    soft = and_(row.sent, not_(hard), func.coalesce(e.soft, 0) == 1, e.opened_at.is_(None))
    return _Delivery(reported_hard, soft, and_(row.sent, not_(hard), not_(soft)))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _variant_and_phase() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    o = outbox_table.c
    return (
        o.step.label("variant"),
        func.coalesce(o.payload["phase"].as_string(), "all").label("phase"),
    )


def by_row(key: str) -> Select[Any]:
    """Per message: variant, phase, `reason` (the head of a skipped one's reply, else NULL)
    and 0/1 columns sent, refused, sent_refused, render_error, paused, waiting, suppressed."""
    o = outbox_table.c
    row = _row()
    suppressed = o.state == "suppressed"
    return select(
        *_variant_and_phase(),
        case((suppressed, TextHead(o.last_reply))).label("reason"),
        _flag(row.sent).label("sent"),
        _flag(row.refused).label("refused"),
        _flag(and_(row.sent, row.refused)).label("sent_refused"),
        _flag(row.render_error).label("render_error"),
        _flag(o.state == "paused").label("paused"),
        _flag(o.state.in_(WAITING_STATES)).label("waiting"),
        _flag(suppressed).label("suppressed"),
    ).where(o.workflow == key)


def engaged(key: str) -> Select[Any]:
    """Per message with a report: variant, phase; 0/1 reported_hard, soft, lost (sent and
    bounced after all), unsubscribed, complained; opened_at and clicked_at (the first, and
    only for delivered messages)."""
    o = outbox_table.c
    messages = select(o.id.label("outbox_id")).where(o.workflow == key).subquery("messages")
    events = _events(messages)
    delivery = _delivery(events)
    row = _row()
    lost = and_(row.sent, or_(delivery.reported_hard, delivery.soft))
    return select(
        *_variant_and_phase(),
        _flag(delivery.reported_hard).label("reported_hard"),
        _flag(delivery.soft).label("soft"),
        _flag(lost).label("lost"),
        events.c.unsubscribed,
        events.c.complained,
        case((delivery.delivered, events.c.opened_at)).label("opened_at"),
        case((delivery.delivered, events.c.clicked_at)).label("clicked_at"),
    ).join_from(events, outbox_table, o.id == events.c.outbox_id)


def earned(key: str, attribution: timedelta, now: datetime) -> Select[Any]:
    """Per delivered message whose recipient ordered within the window: variant, phase, the
    orders' amount (`revenue`) and when the first was placed (`ordered_at`)."""
    o, r = outbox_table.c, order_table.c
    orders = (
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
        .cte("orders_in_window")
    )
    events = _events(orders)
    return (
        select(*_variant_and_phase(), orders.c.revenue, orders.c.ordered_at)
        .select_from(
            orders.join(outbox_table, o.id == orders.c.outbox_id).outerjoin(
                events, events.c.outbox_id == orders.c.outbox_id
            )
        )
        .where(_delivery(events).delivered)
    )


def _events(messages: FromClause) -> Subquery:
    """Per message of `messages` (a column `outbox_id`) with a tracking event or a bounce
    report: the first open (a click counts) and click, and 0/1 for unsubscribed, complained,
    hard (a `bounce` event or a hard report), soft (a soft report)."""
    e, b = tracking_event_table.c, bounce_table.c
    tracked = select(
        e.outbox_id.label("outbox_id"), e.kind.label("kind"), e.occurred_at.label("at")
    ).join_from(tracking_event_table, messages, messages.c.outbox_id == e.outbox_id)
    # A report's kind is hard, soft or complaint; a complaint is one however it came.
    reported = select(b.outbox_id, b.kind, b.occurred_at).join_from(
        bounce_table, messages, messages.c.outbox_id == b.outbox_id
    )
    both = union_all(tracked, reported).subquery("both_events")

    def first(*kinds: str) -> ColumnElement[Any]:
        return func.min(case((both.c.kind.in_(kinds), both.c.at)))

    def has(*kinds: str) -> ColumnElement[int]:
        return func.max(_flag(both.c.kind.in_(kinds)))

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
