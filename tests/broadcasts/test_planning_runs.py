"""A scheduled broadcast is planned once, by one engine, resumably; pause, resume, cancel."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import Session

from mailengine.broadcasts.model import (
    LocalTime,
    ShopTime,
    Throttle,
    bucket_of,
    split_coefficients,
)
from mailengine.clock import FrozenClock
from mailengine.config import ContactPressureSettings, Settings
from mailengine.engine import broadcast_planner
from mailengine.owners import owner_identity
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_plan import customer_ids_max, plan_chunk
from mailengine.store.database import Database
from tests.broadcasts.planning_shop import (
    SECRET,
    ZONES,
    Shop,
    ab_test,
    add_customers,
    broadcast,
)
from tests.conftest import NOW
from tests.databases import empty_tables


class Travel:
    """A frozen clock handed to the planner and, for whatever reads the time itself, the same
    instant frozen by time-machine; both move together."""

    def __init__(self, traveller: time_machine.Traveller) -> None:
        self._traveller = traveller
        self._clock = FrozenClock(NOW)

    def now(self) -> datetime:
        return self._clock.now()

    def shift(self, delta: timedelta) -> None:
        self._traveller.shift(delta)
        self._clock.advance(delta)

    def move_to(self, moment: datetime) -> None:
        self._traveller.move_to(moment)
        self._clock.set(moment)


@pytest.fixture
def travel() -> Iterator[Travel]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield Travel(traveller)


def _pause(database: Database, now: datetime) -> None:
    """Someone pauses the broadcast `sale` (from another thread, in a transaction of its own)."""
    with database.transaction() as other:
        runs.pause(other, "sale", now)


def _chunks_fail_from(monkeypatch: pytest.MonkeyPatch, call: int, reason: str) -> None:
    """Planning fails at its `call`th chunk (a planner killed while writing it), once."""
    real_chunk = plan_chunk
    calls = Counter[str]()

    def failing(*args: object, **kwargs: object) -> int:
        calls["chunk"] += 1
        if calls["chunk"] == call:
            raise RuntimeError(reason)
        return real_chunk(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(broadcast_planner, "plan_chunk", failing)


def test_nothing_is_planned_before_its_time_then_everyone_once(
    database: Database, travel: Travel
) -> None:
    add_customers(database, 120)
    shop = Shop(database)
    assert shop.schedule(broadcast()).outcome == "created"
    assert shop.planner().run_due(travel.now) == []
    travel.shift(timedelta(minutes=56))  # five minutes before the send time
    assert shop.planner().run_due(travel.now) == ["sale"]
    rows = shop.rows()
    assert len(rows) == 120
    assert {row["step"] for row in rows} == {"all"}
    send_time = NOW + timedelta(hours=1)
    assert {row["next_attempt_at"] for row in rows} == {send_time}
    assert shop.run("sale").state == "planned"
    assert shop.run("sale").planned_count == 120
    # Scheduling again, or another engine looking, plans nobody twice.
    assert shop.schedule(broadcast()).outcome == "unchanged"
    assert shop.planner("engine-2").run_due(travel.now) == []
    assert len(shop.rows()) == 120


def test_scheduling_a_changed_file_after_planning_began_is_refused(
    database: Database, travel: Travel
) -> None:
    add_customers(database, 5)
    shop = Shop(database)
    shop.schedule(broadcast(send_at=None))
    assert shop.schedule(broadcast(subject="New words")).outcome == "unchanged"
    changed = broadcast(version="v2", subject="New words")
    assert shop.schedule(changed).outcome == "updated"
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    refused = shop.schedule(broadcast(version="v3"))
    assert refused.outcome == "refused"
    assert "planned" in refused.reason
    assert {row["subject"] for row in shop.rows()} == {"New words"}


def test_a_planner_that_dies_mid_way_is_taken_over_from_its_cursor(
    database: Database, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(database, 300)
    shop = Shop(database)
    shop.schedule(broadcast())
    monkeypatch.setattr(broadcast_planner, "ID_SPAN", 50)
    _chunks_fail_from(monkeypatch, 3, "killed")
    travel.shift(timedelta(hours=1))
    assert shop.planner("engine-1").run_due(travel.now) == []
    stuck = shop.run("sale")
    assert (stuck.state, stuck.claimed_by, stuck.planned_count) == ("planning", "engine-1", 100)
    assert stuck.note == "killed"
    # Nobody else takes it while the lease runs.
    assert shop.planner("engine-2").run_due(travel.now) == []
    travel.shift(broadcast_planner.CLAIM_LEASE + timedelta(seconds=1))
    assert shop.planner("engine-2").run_due(travel.now) == ["sale"]
    rows = shop.rows()
    assert len(rows) == len({row["customer_id"] for row in rows}) == 300
    assert shop.run("sale").state == "planned"


def test_the_test_cells_go_first_and_the_winner_goes_to_the_rest_once(
    database: Database, travel: Travel
) -> None:
    ids = add_customers(database, 1000)
    shop = Shop(database)
    shop.schedule(broadcast(**ab_test(per_cent=10)))
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    tested = shop.rows()
    coefficients = split_coefficients(SECRET, "sale")
    expected = Counter(
        "A" if bucket_of(cid, coefficients) < 1000 else "B"
        for cid in ids.values()
        if bucket_of(cid, coefficients) < 2000
    )
    assert Counter(row["step"] for row in tested) == expected
    assert 150 <= len(tested) <= 250
    run = shop.run("sale")
    assert run.state == "testing"
    assert run.winner_at == NOW + timedelta(hours=5)
    travel.shift(timedelta(hours=3, minutes=59))
    assert shop.planner().run_due(travel.now) == []
    assert shop.picked == 0
    travel.shift(timedelta(minutes=1))
    assert shop.planner().run_due(travel.now) == ["sale"]
    assert shop.planner("engine-2").run_due(travel.now) == []
    assert shop.picked == 1
    rows = shop.rows()
    assert len(rows) == len({row["customer_id"] for row in rows}) == 1000
    rest = [row for row in rows if row["payload"]["phase"] == "rest"]
    assert {(row["step"], row["subject"]) for row in rest} == {("B", "Subject B")}
    assert {row["next_attempt_at"] for row in rest} == {NOW + timedelta(hours=5)}
    final = shop.run("sale")
    assert (final.state, final.winner, final.winner_note) == ("planned", "B", "more clicks")


def test_local_hour_in_each_customers_zone(database: Database, travel: Travel) -> None:
    add_customers(database, 40)
    shop = Shop(database)
    day = date(2026, 11, 25)
    shop.schedule(broadcast(send_at=LocalTime(day, time(10, 0))))
    # Planning starts when it is first 10:00 anywhere (UTC+14), five minutes early.
    assert shop.run("sale").plan_at == datetime(2026, 11, 24, 19, 55, tzinfo=UTC)
    travel.move_to(datetime(2026, 11, 24, 19, 55, tzinfo=UTC))
    shop.planner().run_due(travel.now)
    by_zone = {(row["recipient"], row["next_attempt_at"]) for row in shop.rows()}
    for recipient, due in by_zone:
        n = int(recipient[1:].split("@")[0])
        zone = ZoneInfo(("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/Berlin")[n % 4])
        assert due == datetime.combine(day, time(10, 0), tzinfo=zone)


def test_a_throttle_spreads_the_mail_a_minute_apart(database: Database, travel: Travel) -> None:
    add_customers(database, 50)
    shop = Shop(database)
    shop.schedule(broadcast(throttle=Throttle(per_hour=600)))
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    per_minute = Counter(row["next_attempt_at"] for row in shop.rows())
    start = NOW + timedelta(hours=1)
    assert per_minute == {start + timedelta(minutes=m): 10 for m in range(5)}


def test_a_killed_planner_on_this_host_is_taken_over_at_once(
    database: Database, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim of a planner whose process has ended (read from /proc) is taken over at once,
    not after its lease; a live planner's claim is left alone."""
    add_customers(database, 300)
    shop = Shop(database)
    shop.schedule(broadcast())
    monkeypatch.setattr(broadcast_planner, "ID_SPAN", 50)
    _chunks_fail_from(monkeypatch, 3, "killed")
    ended = subprocess.run(
        [sys.executable, "-c", "from mailengine.owners import owner_identity as o; print(o())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    travel.shift(timedelta(hours=1))
    assert shop.planner(ended).run_due(travel.now) == []
    assert shop.run("sale").claimed_by == ended
    # A planner that still runs (this process) keeps its claim from others.
    alive = owner_identity()
    with database.transaction() as session:
        assert runs.end_claim(session, "sale", ended, travel.now())
        assert runs.claim_due(session, alive, travel.now(), broadcast_planner.CLAIM_LEASE) == "sale"
    assert shop.planner(owner_identity()).run_due(travel.now) == []
    assert shop.run("sale").claimed_by == alive
    with database.transaction() as session:  # give it back to the ended one, mid-lease
        session.execute(
            update(runs.broadcast_table).where(runs.broadcast_table.c.name == "sale")
            .values(claimed_by=ended)
        )  # fmt: skip
    assert shop.planner(owner_identity()).run_due(travel.now) == ["sale"]  # no lease waited out
    rows = shop.rows()
    assert len(rows) == len({row["customer_id"] for row in rows}) == 300
    assert (shop.run("sale").state, shop.run("sale").planned_count) == ("planned", 300)


def test_pause_holds_resume_releases_cancel_drops(database: Database, travel: Travel) -> None:
    add_customers(database, 30)
    shop = Shop(database)
    shop.schedule(broadcast(throttle=Throttle(per_hour=600)))
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    with database.transaction() as session:
        paused = runs.pause(session, "sale", NOW + timedelta(hours=1, minutes=1))
    assert (paused.applied, paused.messages) == (True, 30)
    assert {row["state"] for row in shop.rows()} == {"paused"}
    travel.shift(timedelta(minutes=10))
    with database.transaction() as session:
        resumed = runs.resume(session, "sale", NOW + timedelta(hours=1, minutes=11), shift=True)
    assert (resumed.applied, resumed.messages) == (True, 30)
    rows = shop.rows()
    assert {row["state"] for row in rows} == {"queued"}
    assert min(row["next_attempt_at"] for row in rows) == NOW + timedelta(hours=1, minutes=10)
    with database.transaction() as session:
        cancelled = runs.cancel(session, "sale", NOW + timedelta(hours=1, minutes=12))
        again = runs.cancel(session, "sale", NOW + timedelta(hours=1, minutes=12))
    assert (cancelled.applied, cancelled.messages) == (True, 30)
    assert not again.applied
    assert {(row["state"], row["last_reply"]) for row in shop.rows()} == {
        ("suppressed", runs.CANCELLED_REPLY)
    }
    assert shop.schedule(broadcast(version="v9")).outcome == "refused"


def test_a_pause_during_planning_holds_what_is_planned_and_resume_goes_on(
    database: Database, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(database, 200)
    shop = Shop(database)
    shop.schedule(broadcast())
    monkeypatch.setattr(broadcast_planner, "ID_SPAN", 50)
    real_chunk = plan_chunk
    pausing: list[threading.Thread] = []

    def chunk_then_pause(*args: object, **kwargs: object) -> int:
        created = real_chunk(*args, **kwargs)  # type: ignore[arg-type]
        if not pausing:  # someone pauses while the first chunk is being written
            pausing.append(threading.Thread(target=_pause, args=(database, travel.now())))
            pausing[0].start()
        return created

    monkeypatch.setattr(broadcast_planner, "plan_chunk", chunk_then_pause)
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    pausing[0].join(timeout=30)
    assert not pausing[0].is_alive()
    held = shop.rows()
    assert held
    assert {row["state"] for row in held} == {"paused"}
    assert shop.run("sale").state == "paused"
    with database.transaction() as session:
        assert runs.resume(session, "sale", travel.now(), shift=False).messages == len(held)
    # Planning goes on from its cursor if the pause stopped it (SQLite's writers may let the
    # planner finish first: then there is nothing left to plan).
    shop.planner().run_due(travel.now)
    rows = shop.rows()
    assert len(rows) == len({row["customer_id"] for row in rows}) == 200
    assert {row["state"] for row in rows} == {"queued"}
    assert shop.run("sale").state == "planned"


def test_quiet_hours_move_the_mail_to_their_end_in_the_customers_zone(
    database: Database, travel: Travel
) -> None:
    add_customers(database, 8)
    settings = Settings(contact_pressure=ContactPressureSettings(quiet_hours="21:00-08:00"))
    shop = Shop(database, settings)
    berlin, new_york, tokyo = (ZoneInfo(z) for z in ZONES[:3])
    seven = datetime(2026, 11, 24, 7, 0, tzinfo=berlin)  # 15:00 in Tokyo, 01:00 in New York
    shop.schedule(broadcast(send_at=ShopTime(seven.replace(tzinfo=None))))
    travel.move_to(seven)
    shop.planner().run_due(travel.now)
    due = {row["recipient"]: row["next_attempt_at"] for row in shop.rows()}
    expected = {
        "Europe/Berlin": datetime(2026, 11, 24, 8, 0, tzinfo=berlin),
        "Asia/Tokyo": seven,
        "America/New_York": datetime(2026, 11, 24, 8, 0, tzinfo=new_york),
        None: datetime(2026, 11, 24, 8, 0, tzinfo=berlin),  # no zone: the shop's
    }
    assert due == {f"c{n}@example.com": expected[ZONES[n % 4]] for n in range(8)}
    assert tokyo.key == "Asia/Tokyo"
    # Waived, the file's time holds for everyone.
    shop.schedule(broadcast("sale-2", send_at=ShopTime(seven.replace(tzinfo=None)),
                            contact_pressure=False))  # fmt: skip
    shop.planner().run_due(travel.now)
    assert {row["next_attempt_at"] for row in shop.rows("sale-2")} == {seven}


def test_the_audience_is_frozen_when_planning_begins(
    database: Database, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(database, 100)
    shop = Shop(database)
    shop.schedule(broadcast())
    monkeypatch.setattr(broadcast_planner, "ID_SPAN", 40)
    joined: list[int] = []

    def highest_then_someone_joins(session: Session) -> int:
        highest = customer_ids_max(session)
        joined.extend(add_customers(database, 1, start=500).values())  # right after
        return highest

    monkeypatch.setattr(broadcast_planner, "customer_ids_max", highest_then_someone_joins)
    travel.shift(timedelta(hours=1))
    shop.planner().run_due(travel.now)
    planned = {row["customer_id"] for row in shop.rows()}
    assert len(planned) == 100
    assert joined[0] not in planned


def test_a_throttled_broadcast_paused_while_planning_keeps_its_pace_after_resume(
    database: Database, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(database, 50)
    shop = Shop(database)
    shop.schedule(broadcast(throttle=Throttle(per_hour=600)))  # 10 a minute, from NOW + 1 h
    _chunks_fail_from(monkeypatch, 3, "stopped after two chunks")
    travel.shift(timedelta(hours=1))
    shop.planner("engine-1").run_due(travel.now)
    with database.transaction() as session:  # paused while planning: 20 planned, 30 to go
        assert runs.pause(session, "sale", travel.now()).messages == 20
    travel.shift(timedelta(minutes=30))
    with database.transaction() as session:
        assert runs.resume(session, "sale", travel.now(), shift=True).messages == 20
    assert shop.planner("engine-2").run_due(travel.now) == ["sale"]
    per_minute = Counter(row["next_attempt_at"] for row in shop.rows())
    # The held chunks moved by the pause's 30 minutes, and the ones planned after it follow
    # them at the same pace (not all at once when the resume came).
    start = NOW + timedelta(hours=1, minutes=30)
    assert per_minute == {start + timedelta(minutes=m): 10 for m in range(5)}


@pytest.mark.postgres
def test_postgresql_plans_chunks_at_once_and_a_pause_waits_for_all_of_them(
    postgres_url: str, travel: Travel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chunks are written at the same time on two connections; a pause that comes while
    both are in flight waits until both commit, then holds the rows of both."""
    database = Database(postgres_url)
    empty_tables(database)
    add_customers(database, 200)
    shop = Shop(database)
    assert shop.settings.engine.broadcast_planning_connections == 2
    shop.schedule(broadcast())
    monkeypatch.setattr(broadcast_planner, "ID_SPAN", 50)
    real_chunk = plan_chunk
    both_in_flight = threading.Barrier(2, timeout=20)
    writers: set[str] = set()
    pausing: list[threading.Thread] = []

    def chunk_in_round(*args: object, **kwargs: object) -> int:
        created = real_chunk(*args, **kwargs)  # type: ignore[arg-type]
        if len(writers) < 2:
            writers.add(threading.current_thread().name)
            if both_in_flight.wait() == 0:  # one of the two starts the pause, and it waits
                pausing.append(threading.Thread(target=_pause, args=(database, travel.now())))
                pausing[0].start()
                pausing[0].join(timeout=0.5)
                assert pausing[0].is_alive(), "the pause did not wait for the chunks in flight"
        return created

    monkeypatch.setattr(broadcast_planner, "plan_chunk", chunk_in_round)
    travel.shift(timedelta(hours=1))
    try:
        shop.planner().run_due(travel.now)
        pausing[0].join(timeout=30)
        assert len(writers) == 2  # two threads, each with its own transaction
        held = shop.rows()
        assert len(held) == 100  # both chunks of the first round, nothing after the pause
        assert {row["state"] for row in held} == {"paused"}
        assert shop.run("sale").state == "paused"
        with database.transaction() as session:
            assert runs.resume(session, "sale", travel.now(), shift=False).messages == 100
        monkeypatch.setattr(broadcast_planner, "plan_chunk", real_chunk)
        assert shop.planner().run_due(travel.now) == ["sale"]
        rows = shop.rows()
        assert len(rows) == len({row["customer_id"] for row in rows}) == 200
        assert {row["state"] for row in rows} == {"queued"}
        assert (shop.run("sale").state, shop.run("sale").planned_count) == ("planned", 200)
    finally:
        database.dispose()
