"""The ROI report on hand-made sends, events and orders, where every figure is known."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.api_queries import record_tracking_event
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import unsubscribe
from mailengine.store.records import OrderUpsert
from mailengine.store.reporting import ReportRow, build_report
from tests.conftest import NOW
from tests.web.cli_runner import run
from tests.web.conftest import add_customers

DAY = timedelta(days=1)
SENT_AT = NOW - 10 * DAY


def add_send(
    database: Database,
    customer_id: int,
    workflow: str,
    state: str,
    at: datetime = SENT_AT,
    step: str = "1",
    reply: str | None = None,
    holdout: bool = False,
) -> int:
    with database.transaction() as session:
        return int(
            session.execute(
                insert(outbox_table)
                .values(
                    idempotency_key=f"{workflow}:{step}:{customer_id}:{at.isoformat()}",
                    kind="marketing",
                    workflow=workflow,
                    step=step,
                    customer_id=customer_id,
                    recipient=f"c{customer_id}@example.com",
                    template="t",
                    subject="s",
                    payload={"holdout": True} if holdout else {},
                    message_id=f"<{workflow}.{customer_id}.{at.timestamp()}@shop.example>",
                    state=state,
                    attempts=1,
                    next_attempt_at=at,
                    created_at=at,
                    updated_at=at,
                    sent_at=at if state == "sent" else None,
                    last_reply=reply,
                )
                .returning(outbox_table.c.id)
            ).scalar_one()
        )


def add_order(
    database: Database, email: str, number: str, at: datetime, euros: int, status: str = "placed"
) -> None:
    order = OrderUpsert(
        external_id=number,
        email=email,
        channel="online",
        amount_minor=euros * 100,
        currency="EUR",
        base_amount_minor=euros * 100,
        placed_at=at,
        status=status,
    )
    with database.transaction() as session:
        upsert_orders(session, [order], at)


def shop(database: Database) -> dict[str, int]:
    """Win-back, one step, a 4-person holdout; welcome mails some of the same people."""
    names = ["a", "b", "c", "d", "e", "f", "g", "h1", "h2", "h3", "h4", "old"]
    ids = add_customers(
        database, [(f"{name}@example.com", "granted") for name in names], NOW - 60 * DAY
    )
    i = {name: ids[f"{name}@example.com"] for name in names}
    sends = {name: add_send(database, i[name], "win-back", "sent") for name in "abef"}
    add_send(database, i["c"], "win-back", "failed", reply="550 5.1.1 no such user")
    add_send(database, i["d"], "win-back", "deferred", reply="451 4.7.1 try later")
    add_send(database, i["g"], "win-back", "failed", reply="render error: 'x' is undefined")
    for name in ("h1", "h2", "h3", "h4"):
        add_send(database, i[name], "win-back", "suppressed", holdout=True)
    add_send(database, i["old"], "win-back", "sent", at=NOW - 40 * DAY)  # before the period
    add_send(database, i["g"], "welcome", "sent")
    add_send(database, i["f"], "welcome", "sent", at=NOW - 7 * DAY)
    with database.transaction() as session:
        record_tracking_event(session, sends["a"], "open", NOW - 9.5 * DAY)
        record_tracking_event(session, sends["a"], "click", NOW - 9 * DAY)
        record_tracking_event(session, sends["b"], "bounce", NOW - 9.9 * DAY)
        unsubscribe(session, address_hash("e@example.com"), "one-click", None, NOW - 5 * DAY)
    add_order(database, "a@example.com", "A1", NOW - 8 * DAY, 100)  # 1 day after a's click
    add_order(database, "a@example.com", "A2", NOW - 8 * DAY, 70, status="cancelled")
    add_order(database, "e@example.com", "E1", NOW - 2 * DAY, 80)  # 8 days on: outside
    add_order(database, "f@example.com", "F1", NOW - 6 * DAY, 50)  # last touch: welcome
    add_order(database, "g@example.com", "G1", NOW - 9 * DAY, 20)
    add_order(database, "h1@example.com", "H1", NOW - 9 * DAY, 40)  # a held-out buyer
    add_order(database, "old@example.com", "O1", NOW - 39 * DAY, 999)
    return i


def by_step(rows: list[ReportRow]) -> dict[tuple[str, str], ReportRow]:
    return {(row.workflow, row.step): row for row in rows}


def test_report_counts_attributes_and_measures_the_holdout(database: Database) -> None:
    shop(database)
    with database.session() as session:
        rows = by_step(build_report(session, NOW - 30 * DAY, NOW))
    assert list(rows) == [
        ("welcome", "1"), ("welcome", "(all)"), ("win-back", "1"), ("win-back", "(all)"),
    ]  # fmt: skip
    win_back = rows[("win-back", "1")]
    counts = {
        name: getattr(win_back, name)
        for name in (
            "sent", "delivered", "deferred", "bounced", "suppressed", "opened", "clicked",
            "unsubscribed", "conversions", "revenue_minor",
        )
    }  # fmt: skip
    assert counts == {
        "sent": 4,  # a b e f
        "delivered": 3,  # b bounced after the send
        "deferred": 1,  # d
        "bounced": 2,  # b later, c at once; g's render error is no bounce
        "suppressed": 0,  # holdout rows are not suppressions
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 1,  # e
        "conversions": 1,  # a; f's order belongs to welcome, e's came too late
        "revenue_minor": 10_000,
    }
    assert win_back.revenue_per_recipient_minor == 2_500
    assert (win_back.mailed.members, win_back.mailed.converted) == (4, 2)  # a and f
    assert win_back.mailed.revenue_minor == 15_000
    assert (win_back.holdout.members, win_back.holdout.converted) == (4, 1)  # h1
    assert win_back.holdout.revenue_minor == 4_000
    assert win_back.lift == 1.0  # 50 % against 25 %
    assert win_back.incremental_revenue_minor == (3_750 - 1_000) * 4
    welcome = rows[("welcome", "1")]
    assert (welcome.sent, welcome.conversions, welcome.revenue_minor) == (2, 2, 7_000)
    assert welcome.holdout.members == 0 and welcome.lift is None
    total = rows[("win-back", "(all)")]
    assert (total.sent, total.bounced, total.conversions) == (4, 2, 1)
    assert total.lift == 1.0


def test_a_shorter_window_and_a_workflow_filter(database: Database) -> None:
    shop(database)
    with database.session() as session:
        rows = by_step(build_report(session, NOW - 30 * DAY, NOW, workflow="win-back", window=DAY))
    assert set(rows) == {("win-back", "1"), ("win-back", "(all)")}
    win_back = rows[("win-back", "1")]
    assert win_back.conversions == 1  # a ordered 1 day after the click
    assert win_back.mailed.converted == 0  # but 2 days after the send
    assert win_back.holdout.converted == 1  # h1: 1 day after


def test_report_command_formats(database: Database, settings: Settings, clock: FrozenClock) -> None:
    shop(database)
    as_json = run(settings, database, clock, ["report", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    document: dict[str, Any] = json.loads(as_json.output)
    row = next(r for r in document["rows"] if (r["workflow"], r["step"]) == ("win-back", "1"))
    assert row["revenue"] == 100.0 and row["revenue_per_recipient"] == 25.0  # numbers
    assert row["lift"] == 1.0 and row["conversion_rate"] == 0.5
    assert row["incremental_revenue"] == 110.0 and row["held_out"] == 4

    as_csv = run(settings, database, clock, ["report", "--workflow", "welcome", "--format", "csv"])
    assert as_csv.exit_code == 0
    records = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [(r["step"], r["sent"], r["revenue"]) for r in records] == [
        ("1", "2", "70.00"),
        ("(all)", "2", "70.00"),
    ]

    table = run(settings, database, clock, ["report", "--since", "2026-11-01"])
    assert table.exit_code == 0
    assert "win-back (all)" in table.output and "+100.0%" in table.output
    assert "€100.00" in table.output

    bad = run(settings, database, clock, ["report", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "neither a duration (30d) nor a date" in bad.output
