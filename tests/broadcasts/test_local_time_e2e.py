"""`send_at: {date: ..., local: "10:00"}` sent by the running engine while its clock moves
through the day: each customer's mail is due, and arrives, at 10:00 in their own zone (the
shop's when they have none, or one that does not exist), never before, in the order the zones
reach 10:00."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.broadcasts.engine_shop import EngineShop, engine_shop

pytestmark = pytest.mark.slow

MORNING = """\
name: morning
template: mass/note
subject: "Good morning, {{ customer.first_name | default('du') }}"
send_at: {date: 2026-12-01, local: "10:00"}
content: {line: "It is ten o'clock where you are."}
"""
# Who lives where, and when 10:00 on 1 December comes there (UTC).
PEOPLE = {
    "aroha@example.com": ("Pacific/Auckland", datetime(2026, 11, 30, 21, 0, tzinfo=UTC)),
    "yuki@example.com": ("Asia/Tokyo", datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
    "jonas@example.com": ("Europe/Berlin", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    "nomad@example.com": (None, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # the shop's zone
    "zed@example.com": ("Mars/Olympus", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    "jane@example.com": ("America/New_York", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
    "lou@example.com": ("America/Los_Angeles", datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
}
# Planning begins five minutes before the first zone on earth (UTC+14) reaches 10:00.
PLANNING = datetime(2026, 11, 30, 19, 55, tzinfo=UTC)


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[EngineShop]:
    async with engine_shop(tmp_path, keep_bodies=False) as found:
        yield found


def _arrived(shop: EngineShop) -> list[str]:
    return [a.recipient for a in shop.handler.arrivals if a.subject.startswith("Good morning")]


async def _through(shop: EngineShop, at: datetime, due: dict[str, datetime], marker: str) -> None:
    """Move the clock to a minute before `at`: once the engine has sent a test mail queued
    then, only the mail due before has arrived; then to `at`: the mail due then arrives."""
    shop.move_to(at - timedelta(minutes=1))
    assert (await shop.cli("broadcast", "test", "morning", "--to", marker)).code == 0
    await shop.until(lambda: bool(shop.handler.to(marker)), "the test mail")
    assert set(_arrived(shop)) == {address for address, then in due.items() if then < at}
    shop.move_to(at)
    await shop.until(
        lambda: set(_arrived(shop)) == {a for a, then in due.items() if then <= at},
        f"the mail due at {at:%H:%M} UTC",
    )


async def test_each_customer_gets_it_at_ten_in_their_own_zone(shop: EngineShop) -> None:
    shop.add_customers((who, who.split("@")[0].title(), zone) for who, (zone, _) in PEOPLE.items())
    shop.write_broadcast("morning", MORNING)
    scheduled = await shop.cli("broadcast", "schedule", "morning")
    assert scheduled.code == 0, scheduled.err
    assert "planning starts 2026-11-30 20:55 CET" in scheduled.out
    engine = await shop.start_engine()
    shop.move_to(PLANNING)
    await shop.until(lambda: shop.run("morning").state == "planned", "planning")
    due = {row["recipient"]: row["next_attempt_at"] for row in shop.rows("morning")}
    assert due == {address: at for address, (_, at) in PEOPLE.items()}

    for step, at in enumerate(sorted(set(due.values()))):
        await _through(shop, at, due, f"marker-{step}@shop.example")
    await engine.stop()

    order = _arrived(shop)
    assert sorted(order) == sorted(PEOPLE)  # each once
    assert [due[address] for address in order] == sorted(due[address] for address in order)
