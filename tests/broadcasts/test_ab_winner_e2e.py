"""An A/B test with a winner, sent by two engines on one PostgreSQL database: the test cells
go first, the winner is picked once, by clicks, `after` the test went out, and the rest get
the winner's mail: every customer exactly one message."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.broadcasts.engine_shop import EngineShop, engine_shop
from tests.conftest import NOW
from tests.databases import postgres_unavailable_reason, scratch_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CUSTOMERS = 300
SENDS_AT = NOW + timedelta(minutes=30)  # 10:30 in Berlin
WINNER_AT = SENDS_AT + timedelta(minutes=15)
MARKER = "marker@shop.example"
DUEL = """\
name: duel
template: newsletter/newsletter
subject: "{{ customer.first_name | default('Hello') }}, the winter sale"
send_at: "2026-11-23 10:30"
ab_test:
  variants:
    - {name: A, share: 10%}
    - {name: B, share: 10%, subject: "Only this week: 20 % off"}
  winner: {metric: clicks, after: 15 minutes}
content:
  headline: The winter sale
  button: {text: Shop the sale, link: /sale}
"""
_TRACKED = re.compile(r'href="(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)"')


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[EngineShop]:
    """A shop on a PostgreSQL database of its own, dropped afterwards."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with scratch_postgres_database() as url:
        async with engine_shop(tmp_path, url) as found:
            yield found


def _broadcast_mail(shop: EngineShop) -> list[str]:
    return [a.recipient for a in shop.handler.arrivals if a.recipient != MARKER]


async def _click_the_links(shop: EngineShop, recipients: set[str]) -> None:
    """Follow every tracked link in the mail of `recipients` (the sale's among them)."""
    async with httpx.AsyncClient(timeout=30) as client:
        for arrival in shop.handler.arrivals:
            if arrival.recipient in recipients:
                html = arrival.message().get_body(("html",))
                assert html is not None
                went = [(await client.get(url)).headers.get("location", "") for url in
                        _TRACKED.findall(html.get_content())]  # fmt: skip
                assert "https://shop.example/sale" in went, went


async def test_test_cells_first_then_the_winner_once_to_the_rest_by_two_engines(
    shop: EngineShop,
) -> None:
    shop.add_customers((f"k{n}@example.com", f"Kim {n}", None) for n in range(CUSTOMERS))
    shop.write_broadcast("duel", DUEL)
    assert (await shop.cli("broadcast", "schedule", "duel")).code == 0
    one, two = await asyncio.gather(shop.start_engine("one"), shop.start_engine("two"))

    shop.move_to(SENDS_AT - timedelta(minutes=5))
    await shop.until(lambda: shop.run("duel").state == "testing", "the test cells planned")
    assert shop.run("duel").winner_at == WINNER_AT
    cells = {row["recipient"]: row["step"] for row in shop.rows("duel")}
    assert set(cells.values()) == {"A", "B"}
    assert 0.1 * CUSTOMERS < len(cells) < 0.3 * CUSTOMERS  # 10 % and 10 %, split at random
    shop.move_to(SENDS_AT)
    await shop.until(lambda: len(_broadcast_mail(shop)) >= len(cells), "the test cells' mail")
    assert sorted(_broadcast_mail(shop)) == sorted(cells)
    for arrival in shop.handler.arrivals:
        wanted = "Only this week" if cells[arrival.recipient] == "B" else "the winter sale"
        assert wanted in arrival.subject
    await _click_the_links(shop, {r for r, step in cells.items() if step == "B"})

    shop.move_to(WINNER_AT - timedelta(minutes=1))  # not yet: the engines work, nobody picks
    assert (await shop.cli("broadcast", "test", "duel", "--to", MARKER)).code == 0
    await shop.until(lambda: bool(shop.handler.to(MARKER)), "the test mail")
    assert (shop.run("duel").state, len(shop.rows("duel"))) == ("testing", len(cells))

    shop.move_to(WINNER_AT)
    await shop.until(lambda: shop.run("duel").state == "planned", "the rest planned")
    await shop.until(lambda: len(_broadcast_mail(shop)) >= CUSTOMERS, "the rest's mail")
    await shop.until(lambda: set(shop.states("duel")) == {"sent"}, "every message settled")
    logs = [await one.stop(), await two.stop()]

    assert Counter(_broadcast_mail(shop)) == {f"k{n}@example.com": 1 for n in range(CUSTOMERS)}
    rows = shop.rows("duel")
    rest = [row for row in rows if row["recipient"] not in cells]
    assert len(rest) == CUSTOMERS - len(cells)
    assert {(row["step"], row["payload"]["phase"]) for row in rest} == {("B", "rest")}
    for arrival in shop.handler.arrivals:
        if arrival.recipient in cells or arrival.recipient == MARKER:
            continue
        assert arrival.subject == "Only this week: 20 % off"
    assert shop.run("duel").winner == "B"
    assert sum(log.count("broadcast duel: variant B won") for log in logs) == 1
    assert all("broadcast duel: variant A won" not in log for log in logs)
    report = await shop.cli("broadcast", "report", "duel", "--json")
    assert json.loads(report.out)["winner"]["went"] == "B"
