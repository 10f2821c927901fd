"""kill -9 of `mailengine run` during a broadcast to 10,000 customers: killed while planning,
the next engine goes on from the stored cursor once the dead one's claim has run out (nobody
is planned twice, the throttle's pace goes on where it stopped); killed while sending, the
next one sends the rest: nothing is lost, and only what was on the SMTP connections at the
kill arrives twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailengine.engine.broadcast_planner import CLAIM_LEASE
from tests.broadcasts.engine_shop import EngineShop, engine_shop
from tests.conftest import NOW

pytestmark = pytest.mark.slow

CUSTOMERS = 10_000
PER_MINUTE = 50  # the throttle's pace: a chunk of 50 planned per transaction, due a minute apart
CONNECTIONS = 4  # smtp.connections: at most this many messages are on the wire at a kill
SENDS_AT = NOW + timedelta(minutes=30)  # 10:30 in Berlin
BIG = f"""\
name: big
template: mass/note
subject: "Neu für dich, {{{{ customer.first_name | default('du') }}}}"
send_at: "2026-11-23 10:30"
throttle: {{per_hour: {PER_MINUTE * 60}}}
tracking: false
content: {{line: Unsere Neuheiten sind da.}}
"""


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[EngineShop]:
    # 5 ms between taking a message and its 250: a kill catches some in the server's hands.
    async with engine_shop(tmp_path, pause=0.005, keep_bodies=False) as found:
        yield found


async def test_killed_while_planning_and_while_sending_nothing_lost_nobody_planned_twice(
    shop: EngineShop,
) -> None:
    ids = shop.add_customers((f"k{n}@example.com", f"Kim {n}", None) for n in range(CUSTOMERS))
    shop.write_broadcast("big", BIG)
    assert (await shop.cli("broadcast", "schedule", "big")).code == 0
    first = await shop.start_engine()
    planning_began = SENDS_AT - timedelta(minutes=5)
    shop.move_to(planning_began)
    await shop.until(lambda: shop.run("big").cursor.get("chunks", 0) >= 10, "planning under way")
    await first.kill()

    killed = shop.run("big")
    assert killed.state == "planning" and killed.claimed_by is not None
    done_before = killed.planned_count
    assert 0 < done_before < CUSTOMERS
    assert killed.cursor["after_id"] < killed.cursor["last_id"] == max(ids.values())
    rows = shop.rows("big")
    assert len(rows) == done_before
    assert max(row["customer_id"] for row in rows) == killed.cursor["after_id"]

    second = await shop.start_engine()
    restarted = planning_began + CLAIM_LEASE + timedelta(minutes=1)  # the dead claim ran out
    shop.move_to(restarted)
    await shop.until(lambda: shop.run("big").state == "planned", "planning finished")
    planned = shop.run("big")
    rows = shop.rows("big")
    assert planned.planned_count == len(rows) == CUSTOMERS
    assert set(shop.planned_per_customer("big").values()) == {1}
    assert Counter(row["created_at"] for row in rows) == {
        planning_began: done_before,
        restarted: CUSTOMERS - done_before,
    }
    by_customer = sorted(rows, key=lambda row: row["customer_id"])
    assert [row["next_attempt_at"] for row in by_customer] == [
        SENDS_AT + timedelta(minutes=index // PER_MINUTE) for index in range(CUSTOMERS)
    ]  # the pace went on from the cursor: no chunk planned twice, none skipped
    assert shop.handler.arrivals == []  # nothing is due before 10:30

    shop.move_to(SENDS_AT + timedelta(hours=4))  # past the throttle's last minute
    await shop.until(lambda: len(shop.handler.arrivals) >= CUSTOMERS // 4, "sending under way")
    await second.kill()
    expected = {(row["recipient"], row["message_id"]) for row in rows}
    third = await shop.start_engine()
    await shop.until(lambda: len(shop.handler.counts()) == CUSTOMERS, "everyone's mail")
    await shop.until(lambda: shop.states("big") == {"sent": CUSTOMERS}, "everything sent")
    await third.stop()

    arrivals = Counter((a.recipient, a.message_id) for a in shop.handler.arrivals)
    assert set(arrivals) == expected  # nothing lost, each with its own Message-ID
    twice = sum(count - 1 for count in arrivals.values())
    assert twice <= CONNECTIONS, twice
    assert len(shop.rows("big")) == CUSTOMERS  # the restarts planned nobody again
    logs = [engine.output() for engine in (first, second, third)]
    assert ["broadcast big: planned" in log for log in logs] == [False, True, False]
