"""Durations, dates, times of day; event data filters; holdout; yearly and per-customer tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailengine.store.audience_queries import customer_matches
from mailengine.store.audience_sql import customer, yearly_filter
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.conditions import parse_condition, parse_data_filter
from mailengine.workflows.data_filters import event_matches
from mailengine.workflows.model import Condition, DataFilter, Holdout, RelativeMoment, YearlyTrigger
from mailengine.workflows.phrases import parse_duration, parse_moment, parse_time_of_day
from mailengine.workflows.problems import ProblemLog
from mailengine.yamlsource import load_yaml_text
from tests.workflows.conftest import Populated

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 days", timedelta(days=3)),
        ("1 day", timedelta(days=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("12 hours", timedelta(hours=12)),
        ("30 Minutes", timedelta(minutes=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["3", "three days", "0 days", "2 fortnights", "-1 day", "1.5 days"]
)
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|unit|longer than zero"):
        parse_duration(text)


def test_relative_moments_resolve_against_now_in_the_shop_zone() -> None:
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already the 24th in Berlin
    ago = parse_moment("90 days ago")
    assert ago == RelativeMoment(-timedelta(days=90))
    assert isinstance(ago, RelativeMoment)
    assert ago.resolve(now, BERLIN) == now - timedelta(days=90)
    today = parse_moment("today")
    assert isinstance(today, RelativeMoment)
    assert today.resolve(now, BERLIN) == datetime(2026, 11, 24, tzinfo=BERLIN)
    assert parse_moment("in 7 days") == RelativeMoment(timedelta(days=7))
    assert parse_moment("2026-01-31") == date(2026, 1, 31)
    with pytest.raises(ValueError, match="no time zone"):
        parse_moment("2026-01-31T10:00:00")


def test_time_of_day() -> None:
    assert parse_time_of_day("09:00") == time(9, 0)
    assert parse_time_of_day("23:59") == time(23, 59)
    with pytest.raises(ValueError, match="time of day"):
        parse_time_of_day("25:00")


def where(text: str) -> DataFilter:
    document = load_yaml_text(text, "where.yaml")
    log = ProblemLog(document)
    parsed = parse_data_filter(document.data, (), log)
    assert log.problems == []
    assert parsed is not None
    return parsed


def test_event_data_filters() -> None:
    online_big = where("{channel: online, total: {gte: 100}, coupon: {is_set: false}}")
    assert event_matches(online_big, {"channel": "online", "total": "120.50"})
    assert not event_matches(online_big, {"channel": "store", "total": 500})
    assert not event_matches(online_big, {"channel": "online", "total": 99})
    assert not event_matches(online_big, {"channel": "online", "total": 120, "coupon": "X"})
    assert not event_matches(online_big, {"channel": "online"})
    assert event_matches(where("{size: [42, 43]}"), {"size": "43"})
    assert event_matches(where("{city: {ne: Paris}}"), {})
    assert event_matches(None, {"anything": 1})


def test_holdout_is_stable_and_near_its_share() -> None:
    holdout = Holdout(10)
    held = [holdout.holds_out("win-back", customer_id) for customer_id in range(10_000)]
    assert held == [holdout.holds_out("win-back", customer_id) for customer_id in range(10_000)]
    assert 850 < sum(held) < 1150


def condition(text: str) -> Condition:
    document = load_yaml_text(text, "if.yaml")
    log = ProblemLog(document)
    parsed = parse_condition(document.data, (), log)
    assert log.problems == []
    assert parsed is not None
    return parsed


def test_branch_condition_for_one_customer(populated: Populated) -> None:
    context = AudienceContext(populated.now)
    with populated.database.session() as session:
        # number 0 never ordered (every fourth customer has no orders), number 1 did
        assert customer_matches(session, condition("{orders_count: 0}"), 1, context)
        assert not customer_matches(session, condition("{orders_count: 0}"), 2, context)
        assert customer_matches(session, condition("{orders_count: {gte: 1}}"), 2, context)


def test_yearly_birthdays_include_29_february_in_other_years(populated: Populated) -> None:
    trigger = YearlyTrigger("birthday", time(9, 0))
    statement = select(customer.c.id, customer.c.birthday).where(
        yearly_filter(trigger, [date(2026, 2, 28)])
    )
    with populated.database.session() as session:
        birthdays = {row.birthday for row in session.execute(statement)}
    assert date(1992, 2, 29) in birthdays
    assert {(day.month, day.day) for day in birthdays} <= {(2, 28), (2, 29)}
    assert (2, 28) in {(day.month, day.day) for day in birthdays}


def test_signup_anniversaries(populated: Populated) -> None:
    trigger = YearlyTrigger("signup", time(9, 0))
    with populated.database.session() as session:
        everyone = [row.created_at for row in session.execute(select(customer.c.created_at))]
        day = everyone[0].date().replace(year=2030)
        statement = select(customer.c.created_at).where(yearly_filter(trigger, [day]))
        created = [row.created_at for row in session.execute(statement)]
    expected = [moment for moment in everyone if (moment.month, moment.day) == (day.month, day.day)]
    assert created
    assert sorted(created) == sorted(expected)
