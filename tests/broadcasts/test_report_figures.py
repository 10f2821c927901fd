"""A broadcast's figures from a real outbox, tracking events, bounce reports and orders, on
SQLite and PostgreSQL: every count of `report_shop` as its docstring says it must be."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from mailengine.broadcasts.figures import VariantFigures
from mailengine.broadcasts.model import split_coefficients
from mailengine.store.broadcast_plan import (
    BroadcastPlan,
    ContactCap,
    DueTimes,
    PlanCell,
    plan_chunk,
)
from mailengine.store.broadcast_report import SeriesPoint, figures_over_time, variant_figures
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import PlannedSend
from mailengine.workflows.audience import AudienceContext
from tests.broadcasts import report_shop
from tests.broadcasts.report_shop import NAME
from tests.conftest import NOW
from tests.web.conftest import add_customers

WINDOW = timedelta(days=5)
BERLIN = ZoneInfo("Europe/Berlin")
COUNTS = (
    "planned", "sent", "delivered", "bounced_hard", "bounced_soft", "opened", "clicked",
    "unsubscribed", "complained", "conversions", "revenue_minor", "skipped", "cancelled",
    "paused", "waiting", "failed",
)  # fmt: skip


def counts(figures: VariantFigures) -> dict[str, Any]:
    return {name: value for name, value in asdict(figures).items() if name in COUNTS}


def expected(**given: int) -> dict[str, int]:
    return {name: given.get(name, 0) for name in COUNTS}


A_TEST = expected(
    planned=8, sent=6, delivered=4, bounced_hard=2, bounced_soft=1, opened=2, clicked=1,
    unsubscribed=1, conversions=1, revenue_minor=5000, skipped=1,
)  # fmt: skip
B_TEST = expected(
    planned=8, sent=5, delivered=5, opened=3, clicked=2, complained=1, conversions=2,
    revenue_minor=13_000, skipped=1, waiting=1, failed=1,
)  # fmt: skip
B_REST = expected(
    planned=4, sent=1, delivered=1, opened=1, conversions=1, revenue_minor=4000, cancelled=1,
    paused=1, waiting=1,
)  # fmt: skip


def test_each_variant_and_phase_counts_what_became_of_its_mail(database: Database) -> None:
    report_shop.build(database)
    with database.session() as session:
        figures = variant_figures(session, NAME, WINDOW, NOW)
    assert list(figures) == ["A", "B"]
    a, b = figures["A"], figures["B"]
    assert list(a.phases) == ["test"] and counts(a.phases["test"]) == A_TEST
    assert counts(a) == A_TEST
    assert a.skip_reasons == {"contact pressure": 1}
    assert a.bounced == 3
    assert list(b.phases) == ["test", "rest"]
    assert counts(b.tested) == B_TEST
    assert counts(b.phases["rest"]) == B_REST
    assert counts(b) == {name: B_TEST[name] + B_REST[name] for name in COUNTS}
    assert b.skip_reasons == {"address suppressed (hard-bounce)": 1}
    assert b.phases["rest"].skip_reasons == {}  # a cancelled message is no skipped one
    # The interval of revenue per recipient needs each message's revenue squared.
    assert a.revenue_squares == 5000.0**2
    assert b.tested.revenue_squares == 5000.0**2 + 8000.0**2
    assert b.revenue_squares == 5000.0**2 + 8000.0**2 + 4000.0**2


def test_the_attribution_window_ends_to_the_microsecond(database: Database) -> None:
    report_shop.build(database)
    with database.session() as session:
        one_day = variant_figures(session, NAME, timedelta(days=1), NOW)["B"].tested
        a_second_less = variant_figures(
            session, NAME, timedelta(days=1) - timedelta(seconds=1), NOW
        )["B"].tested
        before_the_orders = variant_figures(session, NAME, WINDOW, report_shop.A_SENT)
    # b1's first order came exactly one day after its send (sent at .123456 seconds).
    assert (one_day.conversions, one_day.revenue_minor) == (1, 3000)
    assert (a_second_less.conversions, a_second_less.revenue_minor) == (0, 0)
    assert before_the_orders["A"].conversions == 0  # orders after `now` do not count yet


def test_an_unknown_broadcast_has_no_figures(database: Database) -> None:
    report_shop.build(database)
    with database.session() as session:
        assert variant_figures(session, "no-such-sale", WINDOW, NOW) == {}
        assert figures_over_time(session, "no-such-sale", "hour", attribution=WINDOW, now=NOW) == []


def test_hours_and_days_since_the_first_send_add_up_to_the_figures(database: Database) -> None:
    report_shop.build(database)
    with database.session() as session:
        hours = figures_over_time(session, NAME, "hour", attribution=WINDOW, now=NOW, zone=BERLIN)
        days = figures_over_time(session, NAME, "day", attribution=WINDOW, now=NOW, zone=BERLIN)
        utc_days = figures_over_time(session, NAME, "day", attribution=WINDOW, now=NOW)
    local = datetime(2026, 11, 13, 10, 0, tzinfo=BERLIN)  # T0 in Berlin
    assert hours[0].start == local and hours[0].start.utcoffset() == timedelta(hours=1)
    # From the first send's hour to b2's order four days on, every hour, none left out.
    assert [point.start for point in hours] == [
        local + timedelta(hours=n) for n in range(len(hours))
    ]
    assert hours[-1].start == datetime(2026, 11, 17, 10, 0, tzinfo=BERLIN)
    by_hour = {point.start.hour: point for point in hours[:8]}
    assert by_hour[10] == SeriesPoint(by_hour[10].start, sent=11, opened=2, clicked=2)
    assert by_hour[11] == SeriesPoint(by_hour[11].start, opened=2, clicked=1)
    assert by_hour[12] == SeriesPoint(by_hour[12].start, opened=1, conversions=1)  # b3, a1
    assert by_hour[15] == SeriesPoint(by_hour[15].start, sent=1, opened=1)  # r1
    assert by_hour[16] == SeriesPoint(by_hour[16].start, conversions=1)  # r1 ordered
    totals = {
        name: sum(getattr(point, name) for point in hours)
        for name in ("sent", "opened", "clicked", "conversions")
    }
    assert totals == {"sent": 12, "opened": 6, "clicked": 3, "conversions": 4}
    assert [(p.start.date().isoformat(), p.sent, p.opened, p.conversions) for p in days] == [
        ("2026-11-13", 12, 6, 2),
        ("2026-11-14", 0, 0, 1),  # b1
        ("2026-11-15", 0, 0, 0),
        ("2026-11-16", 0, 0, 0),
        ("2026-11-17", 0, 0, 1),  # b2
    ]
    assert days[0].start == datetime(2026, 11, 13, tzinfo=BERLIN)
    assert utc_days[0].start == datetime(2026, 11, 13, tzinfo=UTC)


def test_what_the_planning_statement_writes_is_what_the_report_reads(
    database: Database,
) -> None:
    """Test cells and the rest planned by `plan_chunk`, one customer over the contact cap."""
    people = [(f"p{n}@example.com", "granted") for n in range(60)]
    ids = add_customers(database, people, NOW - timedelta(days=30))
    key = f"broadcast:{NAME}"

    def cell(variant: str, phase: str, low: int, high: int) -> PlanCell:
        payload = {"broadcast": NAME, "variant": variant, "phase": phase}
        return PlanCell(variant, low, high, "news/x", f"Subject {variant}", None, payload)

    def plan(cells: list[PlanCell], cap: ContactCap | None = None) -> BroadcastPlan:
        return BroadcastPlan(
            workflow_key=key,
            version="v1",
            audience=None,
            context=AudienceContext(NOW, BERLIN),
            topic="newsletter",
            cells=cells,
            coefficients=split_coefficients(b"s" * 32, NAME),
            secret=b"s" * 32,
            domain="shop.example",
            cap=cap,
        )

    pressed = ids["p7@example.com"]
    earlier = [
        PlannedSend(
            idempotency_key=f"welcome:{n}",
            workflow="welcome",
            step="1",
            customer_id=pressed,
            recipient="p7@example.com",
            template="t",
            subject="s",
            message_id=f"<welcome.{n}@shop.example>",
        )
        for n in range(3)
    ]
    cap = ContactCap(3, NOW - timedelta(days=7), "contact pressure: 3 marketing e-mails in 7 days")
    with database.transaction() as session:
        plan_sends(session, earlier, NOW - timedelta(days=1))
        test = plan([cell("A", "test", 0, 3000), cell("B", "test", 3000, 6000)], cap)
        plan_chunk(session, test, 0, 10_000, DueTimes(NOW), NOW)
        plan_chunk(session, plan([cell("B", "rest", 6000, 10_000)]), 0, 10_000, DueTimes(NOW), NOW)
        figures = variant_figures(session, NAME, WINDOW, NOW)
        o = outbox_table.c
        planned = session.execute(
            select(o.step, func.count()).where(o.workflow == key).group_by(o.step)
        ).all()
    assert sum(found.planned for found in figures.values()) == 60
    assert {step: int(count) for step, count in planned} == {
        name: found.planned for name, found in figures.items()
    }
    assert set(figures["B"].phases) == {"test", "rest"} and set(figures["A"].phases) == {"test"}
    pressed_variant = next(name for name, found in figures.items() if found.skipped)
    assert figures[pressed_variant].tested.skip_reasons == {"contact pressure": 1}
    assert all(found.waiting == found.planned - found.skipped for found in figures.values())
