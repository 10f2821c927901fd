"""Pausing, resuming and cancelling a broadcast while the running engine sends it: a pause
holds everything not yet taken for sending (what was taken still goes, and is counted), a
resume sends the rest once each, a cancel drops the rest for good and the report counts it.

Whether anything held slipped out is checked after the engine has demonstrably worked past
it: a `broadcast test` mail queued after the pause, and sent by the same engine, arrives."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailengine.outbound.dispatcher import DispatchOptions
from mailengine.outbound.sending import READY_AHEAD
from tests.broadcasts.engine_shop import EngineShop, engine_shop
from tests.conftest import NOW

pytestmark = pytest.mark.slow

CUSTOMERS = 1500
UNDER_WAY = 100  # arrivals before the pause or cancel: sending is under way
LETTER = """\
name: {name}
template: mass/note
subject: "{title}, {{{{ customer.first_name | default('du') }}}}"
send_at: "{send_at}"
content: {{line: "{title} is here."}}
"""


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[EngineShop]:
    async with engine_shop(tmp_path, pause=0.01, keep_bodies=False) as found:
        yield found


def _of(shop: EngineShop, title: str) -> list[str]:
    return [a.recipient for a in shop.handler.arrivals if a.subject.startswith(f"{title}, ")]


async def _sending(shop: EngineShop, name: str, title: str, send_at: str) -> None:
    """Schedule broadcast `name` for `send_at` (shop time, 5 minutes or more ahead), move the
    clock there and wait until its mail is arriving."""
    shop.write_broadcast(name, LETTER.format(name=name, title=title, send_at=send_at))
    scheduled = await shop.cli("broadcast", "schedule", name)
    assert scheduled.code == 0, scheduled.err
    shop.advance(timedelta(minutes=20))
    await shop.until(lambda: len(_of(shop, title)) >= UNDER_WAY, f"{name} under way")


async def _settled(shop: EngineShop, name: str) -> None:
    """Until nothing of `name` is being sent (what was taken before a pause has gone)."""
    await shop.until(lambda: "sending" not in shop.states(name), f"{name}'s sends in flight")


async def _engine_worked_past(shop: EngineShop, name: str, marker: str) -> None:
    """A test mail queued now arrives: the engine has claimed and sent after this moment."""
    queued = await shop.cli("broadcast", "test", name, "--to", marker)
    assert queued.code == 0, queued.err
    await shop.until(lambda: bool(shop.handler.to(marker)), f"the test mail to {marker}")


def _count(said: str, pattern: str) -> int:
    found = re.search(pattern, said)
    assert found is not None, said
    return int(found[1])


async def test_pause_holds_resume_sends_the_rest_once_cancel_drops_it(shop: EngineShop) -> None:
    shop.add_customers((f"k{n}@example.com", f"Kim {n}", None) for n in range(CUSTOMERS))
    engine = await shop.start_engine()

    await _sending(shop, "spring", "Spring", "2026-11-23 10:15")
    before = len(_of(shop, "Spring"))
    paused = await shop.cli("broadcast", "pause", "spring")
    assert paused.code == 0, paused.err
    held = _count(paused.out, r"spring: paused; (\d+) message\(s\) held")
    await _settled(shop, "spring")
    gone = _of(shop, "Spring")
    in_flight = len(gone) - before
    assert held > 0 and len(gone) + held == CUSTOMERS
    assert shop.states("spring") == {"sent": len(gone), "paused": held}
    shop.advance(timedelta(minutes=10))  # paused for a while: nothing held is sent
    await _engine_worked_past(shop, "spring", "marker-1@shop.example")
    assert _of(shop, "Spring") == gone
    assert shop.states("spring") == {"sent": len(gone), "paused": held}
    # What the engine had claimed still went: at most the batch being sent and the batches
    # taken ahead (composed, waiting for a connection) when the pause came.
    assert in_flight <= READY_AHEAD * DispatchOptions().batch_size, in_flight

    resumed = await shop.cli("broadcast", "resume", "spring")
    assert resumed.out.strip() == f"spring: resumed; {held} message(s) released"
    await shop.until(lambda: len(_of(shop, "Spring")) >= CUSTOMERS, "the rest of spring")
    await _settled(shop, "spring")
    assert sorted(_of(shop, "Spring")) == sorted(f"k{n}@example.com" for n in range(CUSTOMERS))
    assert shop.states("spring") == {"sent": CUSTOMERS}

    await _sending(shop, "summer", "Summer", "2026-11-23 10:50")
    cancelled = await shop.cli("broadcast", "cancel", "summer", "--yes")
    assert cancelled.code == 0, cancelled.err
    dropped = _count(cancelled.out, r"summer: cancelled; (\d+) message\(s\) dropped")
    # Stopped at once: the messages on a connection finish, what the engine had taken ahead
    # goes back to the outbox; the next engine must not send it.
    await engine.stop()
    sent = _of(shop, "Summer")
    assert dropped > 0 and len(set(sent)) == len(sent) < CUSTOMERS - dropped
    again = await shop.start_engine()
    shop.advance(timedelta(minutes=10))
    await _engine_worked_past(shop, "summer", "marker-2@shop.example")
    await _settled(shop, "summer")
    await again.stop()
    assert _of(shop, "Summer") == sent
    assert shop.states("summer") == {"sent": len(sent), "suppressed": CUSTOMERS - len(sent)}
    report = await shop.cli("broadcast", "report", "summer", "--json")
    assert report.code == 0, report.err
    figures = json.loads(report.out)["variants"]["all"]
    assert (figures["planned"], figures["sent"], figures["cancelled"]) == (
        CUSTOMERS,
        len(sent),
        CUSTOMERS - len(sent),
    )
    assert (figures["skipped"], figures["waiting"], figures["paused"]) == (0, 0, 0)


THROTTLED = """\
name: slow
template: mass/note
subject: "Slowly, {{ customer.first_name | default('du') }}"
send_at: "2026-11-23 10:30"
throttle: {per_hour: 120}
tracking: false
content: {line: "Two a minute."}
"""


async def test_a_throttled_broadcast_paused_while_planning_keeps_its_pace(
    shop: EngineShop,
) -> None:
    """Paused for an hour after ten of its 500 chunks (two a minute each) were planned: on
    resume the held mail moves an hour later, and so does the pace of the chunks planned
    after it, instead of everything whose minute passed during the pause going at once."""
    count = 1000
    shop.add_customers((f"k{n}@example.com", f"Kim {n}", None) for n in range(count))
    shop.write_broadcast("slow", THROTTLED)
    assert (await shop.cli("broadcast", "schedule", "slow")).code == 0
    engine = await shop.start_engine()
    shop.move_to(NOW + timedelta(minutes=25))
    await shop.until(lambda: shop.run("slow").cursor.get("chunks", 0) >= 5, "planning under way")
    paused = await shop.cli("broadcast", "pause", "slow")
    assert paused.code == 0, paused.err
    held = _count(paused.out, r"slow: paused; (\d+) message\(s\) held")
    await shop.until(lambda: "broadcast slow: planning stopped" in engine.output(), "a stop")
    assert len(shop.rows("slow")) == held
    shop.advance(timedelta(hours=1))
    resumed = await shop.cli("broadcast", "resume", "slow")
    assert resumed.out.strip() == f"slow: resumed; {held} message(s) released"
    await shop.until(lambda: shop.run("slow").state == "planned", "planning finished")
    rows = sorted(shop.rows("slow"), key=lambda row: row["customer_id"])
    start = NOW + timedelta(hours=1, minutes=30)
    assert [row["next_attempt_at"] for row in rows] == [
        start + timedelta(minutes=index // 2) for index in range(count)
    ]  # the held chunks moved by the pause's hour, and the ones planned after it follow them
    shop.move_to(start + timedelta(minutes=2))  # three minutes' worth are due: two each
    await _engine_worked_past(shop, "slow", "marker@shop.example")
    await shop.until(lambda: len(_of(shop, "Slowly")) >= 6, "the first three minutes' mail")
    await _settled(shop, "slow")
    await engine.stop()
    assert sorted(_of(shop, "Slowly")) == sorted(row["recipient"] for row in rows[:6])
