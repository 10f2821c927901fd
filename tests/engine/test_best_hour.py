"""`at: best_hour`: a send waits for the customer's best hour in their zone (their own, else the
shop's, else `engine.default_send_hour`), across daylight-saving changes in Berlin and New
York; contact pressure still applies after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.facts import shop_send_hour
from mailengine.engine.planner import ContactPressure, advance, within_hour
from mailengine.engine.simulation import simulate
from mailengine.store.database import Database
from mailengine.store.predictions import (
    SHOP_BEST_SEND_HOUR,
    CustomerPrediction,
    write_predictions,
    write_shop_figure,
)
from mailengine.workflows.loader import parse_workflow
from mailengine.workflows.model import Condition, Workflow
from mailengine.yamlsource import load_yaml_text
from tests.engine.harness import EngineHarness

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the hour itself, around clock changes -------------------------------------------------

HOURS = [
    # zone, best hour, moment, first moment in that hour at or after it
    (BERLIN, 10, utc(2026, 11, 23, 8, 0), utc(2026, 11, 23, 9, 0)),  # 09:00 CET: wait an hour
    (BERLIN, 10, utc(2026, 11, 23, 9, 30), utc(2026, 11, 23, 9, 30)),  # in it: now
    (BERLIN, 10, utc(2026, 11, 23, 10, 0), utc(2026, 11, 24, 9, 0)),  # it just ended
    # Berlin falls back on 25 October 2026 (03:00 CEST -> 02:00 CET): 10:00 moves an hour
    (BERLIN, 10, utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 9, 0)),
    (BERLIN, 10, utc(2026, 10, 25, 9, 0), utc(2026, 10, 25, 9, 0)),
    # the repeated hour 02:00-03:00 counts once, its first time (00:00-01:00 UTC)
    (BERLIN, 2, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 0)),
    (BERLIN, 2, utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 1, 0)),  # 02:30 CET, the repeat
    # Berlin springs forward on 28 March 2027 (02:00 CET -> 03:00 CEST): 02:00 never comes,
    # the hour after the jump is its hour
    (BERLIN, 2, utc(2027, 3, 27, 23, 0), utc(2027, 3, 28, 1, 0)),
    (BERLIN, 10, utc(2027, 3, 27, 12, 0), utc(2027, 3, 28, 8, 0)),
    # New York falls back on 1 November 2026 and springs forward on 14 March 2027
    (NEW_YORK, 18, utc(2026, 10, 31, 23, 0), utc(2026, 11, 1, 23, 0)),  # 19:00 EDT -> 18:00 EST
    (NEW_YORK, 1, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 30)),  # 01:30 EDT, the first
    (NEW_YORK, 1, utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 0)),  # 01:30 EST, the repeat
    (NEW_YORK, 2, utc(2027, 3, 14, 6, 0), utc(2027, 3, 14, 7, 0)),  # 02:00 skipped: 03:00 EDT
    (NEW_YORK, 18, utc(2027, 3, 14, 0, 0), utc(2027, 3, 14, 22, 0)),  # 19:00 EST -> 18:00 EDT
]


@pytest.mark.parametrize(("zone", "hour", "moment", "expected"), HOURS)
def test_the_best_hour_is_found_in_the_customers_zone(
    zone: ZoneInfo, hour: int, moment: datetime, expected: datetime
) -> None:
    found = within_hour(moment, hour, zone)
    assert found == expected
    assert within_hour(found, hour, zone) == found  # asking again there: the same moment


# --- the planner, with contact pressure ------------------------------------------------------


@dataclass
class Facts:
    """Pure facts: a send hour, a pressure, mail planned before."""

    zone: ZoneInfo
    send_hour: int
    pressure: ContactPressure | None = None
    recent: list[datetime] = field(default_factory=list)

    def matches(self, condition: Condition) -> bool:
        return False

    def send_allowed_at(self, now: datetime, planned_now: int) -> tuple[datetime, str]:
        if self.pressure is None:
            return now, ""
        return self.pressure.allowed_at(now, self.recent, planned_now, self.zone)


def workflow(text: str) -> Workflow:
    found, problems = parse_workflow(load_yaml_text(text, "w.yaml"))
    assert problems == [] and found is not None
    return found


BEST = workflow(
    "name: w\ntrigger: {event: a.b}\nsteps:\n  - send: t/t\n    subject: s\n    at: best_hour\n"
)
ORDER_MAIL = workflow(
    "name: o\ntransactional: true\ntrigger: {event: a.b}\nsteps:\n"
    "  - send: t/t\n    subject: s\n    at: best_hour\n"
)


def test_the_step_rests_until_the_best_hour_then_sends() -> None:
    facts = Facts(BERLIN, 19)
    now = utc(2026, 11, 23, 9, 0)  # 10:00 in Berlin
    rest = advance(BEST, "1", now, facts)
    assert (rest.sends, rest.step_id, rest.next_run_at) == ([], "1", utc(2026, 11, 23, 18, 0))
    assert rest.decisions == [
        "step 1: deferred to 2026-11-23T18:00:00+00:00 (best hour 19:00 in Europe/Berlin)"
    ]
    go = advance(BEST, "1", utc(2026, 11, 23, 18, 0), facts)
    assert ([step.id for step in go.sends], go.state) == (["1"], "completed")


def test_the_cap_moves_the_mail_to_the_first_best_hour_it_allows() -> None:
    week = timedelta(days=7)
    facts = Facts(BERLIN, 19, ContactPressure(1, week), [utc(2026, 11, 20, 12, 0)])
    rest = advance(BEST, "1", utc(2026, 11, 23, 9, 0), facts)
    # the cap frees a place on 27 November at 12:00 UTC; the best hour then is 19:00 Berlin
    assert rest.next_run_at == utc(2026, 11, 27, 18, 0)
    assert advance(BEST, "1", utc(2026, 11, 27, 18, 0), facts).sends == list(BEST.sends())


def test_quiet_hours_inside_an_hour_move_it_to_their_end() -> None:
    facts = Facts(BERLIN, 8, ContactPressure(3, timedelta(days=7), time(21, 0), time(8, 30)))
    rest = advance(BEST, "1", utc(2026, 11, 23, 12, 0), facts)
    assert rest.next_run_at == utc(2026, 11, 24, 7, 30)  # 08:30 Berlin, still the best hour


def test_a_best_hour_always_quiet_goes_when_pressure_allows() -> None:
    """Quiet hours cover the best hour: no best hour is ever allowed, so the mail goes as a
    mail without `at:` would (resting for a best hour that never comes would hold it back
    for good)."""
    quiet = ContactPressure(3, timedelta(days=7), time(21, 0), time(8, 0))
    facts = Facts(BERLIN, 23, quiet)
    noon = advance(BEST, "1", utc(2026, 11, 23, 12, 0), facts)
    assert noon.sends == list(BEST.sends())
    night = advance(BEST, "1", utc(2026, 11, 23, 22, 0), facts)  # 23:00 Berlin: quiet
    assert night.next_run_at == utc(2026, 11, 24, 7, 0)
    assert night.decisions[0].endswith(
        "(quiet hours; no best hour 23:00 in Europe/Berlin is free of it)"
    )
    assert advance(BEST, "1", utc(2026, 11, 24, 7, 0), facts).sends == list(BEST.sends())


def test_order_mail_waits_for_the_hour_but_not_for_pressure() -> None:
    facts = Facts(NEW_YORK, 7, ContactPressure(1, timedelta(days=7)), [utc(2026, 11, 22)])
    rest = advance(ORDER_MAIL, "1", utc(2026, 11, 23, 20, 0), facts)
    assert rest.next_run_at == utc(2026, 11, 24, 12, 0)  # 07:00 EST


# --- the engine and the simulation, over both autumn changes ---------------------------------

SERIES = """name: best-hour-series
description: Six mails two days apart, each at the customer's best hour.
trigger: {event: test.series}
steps:
""" + "  - wait: 2 days\n".join(
    f'  - send: win-back/we-miss-you\n    subject: "Mail {n}"\n    at: best_hour\n'
    for n in range(1, 7)
)
START = utc(2026, 10, 23, 12, 0)  # Friday; Berlin falls back on Sunday, New York a week later
DAYS = 11


@pytest.fixture
def series(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "series.yaml").write_text(SERIES, encoding="utf-8")
    return folder


def _shop(
    database: Database, folder: Path, settings: Settings
) -> tuple[EngineHarness, dict[str, int]]:
    shop = EngineHarness(database, FrozenClock(START), settings, workflows=folder)
    ids = {
        "berlin": shop.customer("berlin@example.com", "Berta"),
        "newyork": shop.customer("ny@example.com", "Nia", timezone="America/New_York"),
    }
    with database.transaction() as session:
        prediction = CustomerPrediction(ids["berlin"], 0.5, 0.5, 1.0, None, None, 7, START)
        write_predictions(session, [prediction])
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, 18, START)  # for Nia, who has none
    return shop, ids


async def test_the_engine_sends_at_each_customers_best_hour_across_dst(
    database: Database, series: Path
) -> None:
    uncapped = Settings.model_validate({"contact_pressure": {"max_marketing_emails": 10}})
    shop, _ = _shop(database, series, uncapped)
    shop.event("berlin@example.com", "test.series")
    shop.event("ny@example.com", "test.series")
    await shop.tick()
    await shop.run_for(timedelta(days=DAYS))
    berlin = [m.at for m in shop.received if m.to == "berlin@example.com"]
    new_york = [m.at for m in shop.received if m.to == "ny@example.com"]
    # 07:00 in Berlin: 05:00 UTC in summer time, 06:00 UTC from 25 October
    # (two days after 05:00 UTC on the 24th is 06:00 in Berlin: an hour's wait)
    assert berlin == [
        utc(2026, 10, 24, 5), utc(2026, 10, 26, 6), utc(2026, 10, 28, 6),
        utc(2026, 10, 30, 6), utc(2026, 11, 1, 6), utc(2026, 11, 3, 6),
    ]  # fmt: skip
    # 18:00 in New York: 22:00 UTC in summer time, 23:00 UTC from 1 November
    assert new_york == [
        utc(2026, 10, 23, 22), utc(2026, 10, 25, 22), utc(2026, 10, 27, 22),
        utc(2026, 10, 29, 22), utc(2026, 10, 31, 22), utc(2026, 11, 2, 23),
    ]  # fmt: skip
    assert {at.astimezone(BERLIN).hour for at in berlin} == {7}
    assert {at.astimezone(NEW_YORK).hour for at in new_york} == {18}


@pytest.mark.slow
async def test_the_simulation_gives_the_engines_times(database: Database, series: Path) -> None:
    """The simulation on the stored data first (it supposes the event now), then the engine.
    The frequency cap (3 in 7 days) holds the fourth mails back to a later best hour."""
    shop, ids = _shop(database, series, Settings())
    workflow = shop.registry.current()["best-hour-series"]
    predicted = {
        name: [
            mail.at for mail in simulate(database, shop.runner, workflow, who, START, DAYS).mails
        ]
        for name, who in ids.items()
    }
    for who in ("berlin@example.com", "ny@example.com"):
        shop.event(who, "test.series")
    await shop.tick()
    await shop.run_for(timedelta(days=DAYS))
    sent = {
        "berlin": [m.at for m in shop.received if m.to == "berlin@example.com"],
        "newyork": [m.at for m in shop.received if m.to == "ny@example.com"],
    }
    assert predicted == sent
    assert sent["berlin"] == [
        utc(2026, 10, 24, 5), utc(2026, 10, 26, 6), utc(2026, 10, 28, 6),
        utc(2026, 10, 31, 6), utc(2026, 11, 2, 6),
    ]  # fmt: skip
    assert {at.astimezone(NEW_YORK).hour for at in sent["newyork"]} == {18}


def test_without_a_shop_hour_the_configured_one_is_used(database: Database) -> None:
    settings = Settings.model_validate({"engine": {"default_send_hour": 9}})
    with database.session() as session:
        assert shop_send_hour(session, settings) == 9
        assert shop_send_hour(session, Settings()) == 10
    with database.transaction() as session:
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, 20, START)
    with database.session() as session:
        assert shop_send_hour(session, settings) == 20


WRONG_AT = [('"10:00"', "'10:00'"), ("best_hours", "'best_hours' (did you mean 'best_hour'?)")]


@pytest.mark.parametrize(("value", "shown"), WRONG_AT)
def test_a_send_step_at_other_than_best_hour_is_refused(value: str, shown: str) -> None:
    steps = f"steps:\n  - send: t/t\n    subject: s\n    at: {value}\n"
    text = "name: w\ntrigger: {event: a.b}\n" + steps
    found, problems = parse_workflow(load_yaml_text(text, "w.yaml"))
    assert found is None
    assert [str(problem) for problem in problems] == [
        "w.yaml:6:5: a send step's at: is best_hour (the customer's best hour to read mail, "
        f"in their zone), got {shown}"
    ]
