"""`mailengine broadcast schedule | pause | resume | cancel` through the command's entry point,
and the engine's `run --once` planning what was scheduled (frozen clock, 23 November 2026)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.outbox import outbox_table
from tests.cli.conftest import Shop

LETTER = "broadcasts/december-newsletter.yaml"


def _letter(shop: Shop, send_at: str = "2026-11-23 11:00") -> None:
    path = shop.folder / LETTER
    text = path.read_text(encoding="utf-8")
    start = text.index("send_at:")
    end = text.index("\n", start)
    path.write_text(f'{text[:start]}send_at: "{send_at}"{text[end:]}', encoding="utf-8")


def _states(shop: Shop, name: str = "december-newsletter") -> dict[str, int]:
    with shop.database() as database, database.session() as session:
        return broadcast_outbox.outbox_states(session, name)


def _state(shop: Shop, name: str = "december-newsletter") -> str | None:
    with shop.database() as database, database.session() as session:
        found = runs.load(session, name)
    return found.state if found is not None else None


def test_schedule_then_the_engine_plans_it_when_its_time_comes(shop: Shop) -> None:
    assert shop.run("demo-data", "--customers", "60", "--seed", "3").code == 0
    _letter(shop)
    done = shop.run("broadcast", "schedule", "december-newsletter")
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        "december-newsletter: scheduled; planning starts 2026-11-23 10:55 CET",
        "mail goes from 2026-11-23 11:00 CET",
    ]
    again = shop.run("broadcast", "schedule", "december-newsletter")
    assert again.out.splitlines()[0] == (
        "december-newsletter: already scheduled as it is; planning starts 2026-11-23 10:55 CET"
    )
    listed = shop.run("broadcast", "list", "--format", "json")
    assert '"state": "scheduled"' in listed.out
    assert shop.run("run", "--once").code == 0
    assert _states(shop) == {}
    shop.clock.advance(timedelta(minutes=55))  # 10:55 in Berlin: planned, due at 11:00
    assert shop.run("run", "--once").code == 0
    assert _state(shop) == "planned"
    planned = _states(shop)
    with shop.database() as database, database.session() as session:
        consenting = session.execute(
            select(func.count())
            .select_from(outbox_table)
            .where(outbox_table.c.workflow == "broadcast:december-newsletter")
        ).scalar_one()
    assert planned == {"queued": consenting} and consenting > 10


def test_a_send_time_that_passed_needs_now(shop: Shop) -> None:
    _letter(shop, "2026-11-22 09:00")
    done = shop.run("broadcast", "schedule", "december-newsletter")
    assert done.code == 1
    assert "send_at (2026-11-22 09:00 CET) has passed" in done.err
    assert _state(shop) is None
    assert shop.run("broadcast", "schedule", "december-newsletter", "--now").code == 0
    assert _state(shop) == "scheduled"


def test_now_does_not_plan_a_broadcast_whose_time_is_still_to_come(shop: Shop) -> None:
    """--now accepts a passed send time; a future one is still planned five minutes before,
    so that the audience is frozen when the mail goes, not weeks earlier."""
    assert shop.run("demo-data", "--customers", "20", "--seed", "3").code == 0
    _letter(shop, "2026-12-17 10:00")
    done = shop.run("broadcast", "schedule", "december-newsletter", "--now")
    assert done.code == 0, done.err
    assert done.out.splitlines()[0] == (
        "december-newsletter: scheduled; planning starts 2026-12-17 09:55 CET"
    )
    assert shop.run("run", "--once").code == 0
    assert _state(shop) == "scheduled" and _states(shop) == {}


def test_a_broadcast_that_fails_to_render_is_not_scheduled(shop: Shop) -> None:
    _letter(shop)
    path = shop.folder / LETTER
    path.write_text(
        path.read_text(encoding="utf-8").replace("      price: 179.00\n", ""), encoding="utf-8"
    )
    done = shop.run("broadcast", "schedule", "december-newsletter")
    assert done.code == 1
    assert "fails for 8 of 8 customers tried" in done.err
    assert "december-newsletter is not scheduled: fix the problems above" in done.err
    assert _state(shop) is None


def test_pause_resume_and_cancel(shop: Shop) -> None:
    assert shop.run("demo-data", "--customers", "40", "--seed", "3").code == 0
    _letter(shop, "2026-11-23 10:00")
    assert shop.run("broadcast", "schedule", "december-newsletter").code == 0
    assert shop.run("run", "--once").code == 0  # plans, and sends into the capture folder
    sent = _states(shop)
    assert set(sent) == {"sent"}
    assert (
        shop.run("broadcast", "pause", "nothing-like-it")
        .err.strip()
        .endswith("no broadcast nothing-like-it is scheduled")
    )
    paused = shop.run("broadcast", "pause", "december-newsletter")
    assert paused.out.strip() == "december-newsletter: paused; 0 message(s) held"
    assert _state(shop) == "paused"
    assert shop.run("broadcast", "resume", "december-newsletter").code == 0
    assert _state(shop) == "planned"
    refused = shop.run("broadcast", "cancel", "december-newsletter", stdin="n\n")
    assert (refused.code, refused.err.strip()) == (130, "aborted")
    assert _state(shop) == "planned"
    done = shop.run("broadcast", "cancel", "december-newsletter", "--yes")
    assert done.out.strip() == "december-newsletter: cancelled; 0 message(s) dropped"
    again = shop.run("broadcast", "schedule", "december-newsletter")
    assert again.code == 1
    assert "was cancelled; a name is sent once" in again.err
