"""A scheduled broadcast as the running engine sends it: everyone with consent in the
audience gets one message with the rendered content; whoever unsubscribes (through the link
of an earlier mail) after planning is skipped when it goes; contact pressure skips a customer
who already had three marketing mails this week, unless the broadcast waives it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.broadcasts.engine_shop import EngineShop, engine_shop
from tests.conftest import NOW

pytestmark = pytest.mark.slow

# NOW is 10:00 in Berlin, the shop's zone; both broadcasts go at 10:30, planned at 10:25.
SENDS_AT = NOW + timedelta(minutes=30)
FRIENDS = ["Anna", "Ben", "Cleo", "Dan", "Eva", "Finn", "Greta", "Hugo"]
SALE = """\
name: sale
description: The autumn sale.
template: newsletter/newsletter
subject: "{{ customer.first_name | default('Hello') }}, 20 % off knitwear"
send_at: "2026-11-23 10:30"
content:
  headline: The autumn sale
  paragraphs: [Everything warm is 20 % off until Sunday.]
"""
NOTICE = """\
name: opening-hours
description: New opening hours; everyone hears of them, however much mail they had.
template: mass/note
subject: "{{ customer.first_name | default('Hello') }}, our new opening hours"
send_at: "2026-11-23 10:30"
contact_pressure: waive
content: {line: "From December we open at nine."}
"""


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[EngineShop]:
    async with engine_shop(tmp_path) as found:
        yield found


async def test_everyone_gets_one_message_except_who_unsubscribed_or_had_enough(
    shop: EngineShop,
) -> None:
    friends = shop.add_customers(
        (f"{name.lower()}@example.com", name, "Europe/Berlin") for name in FRIENDS
    )
    ids = shop.add_customers(
        [("ute@example.com", "Ute", "Europe/Berlin"), ("paul@example.com", "Paul", None)]
    )
    shop.add_customers([("nora@example.com", "Nora", None)], consent="withdrawn")
    for day in (1, 3, 5):  # Paul had three marketing mails this week
        moment = NOW - timedelta(days=day)
        shop.earlier_mail("paul@example.com", ids["paul@example.com"], f"p{day}", moment, sent=True)
    # Ute's newsletter of last week is still queued: the engine sends it when it starts.
    shop.earlier_mail("ute@example.com", ids["ute@example.com"], "u1", NOW, sent=False)
    shop.write_broadcast("sale", SALE)
    shop.write_broadcast("opening-hours", NOTICE)
    for name in ("sale", "opening-hours"):
        scheduled = await shop.cli("broadcast", "schedule", name)
        assert scheduled.code == 0, scheduled.err
        assert "planning starts 2026-11-23 10:25 CET" in scheduled.out
    engine = await shop.start_engine()
    await shop.until(lambda: len(shop.handler.to("ute@example.com")) == 1, "Ute's older mail")

    shop.move_to(SENDS_AT - timedelta(minutes=5))
    await shop.until(
        lambda: {shop.run(n).state for n in ("sale", "opening-hours")} == {"planned"}, "planning"
    )
    sale = {row["recipient"]: row for row in shop.rows("sale")}
    assert set(sale) == {*friends, "ute@example.com", "paul@example.com"}  # Nora: no consent
    assert sale["paul@example.com"]["state"] == "suppressed"
    assert sale["paul@example.com"]["last_reply"].startswith("contact pressure: 3 marketing")
    assert {row["next_attempt_at"] for row in sale.values() if row["state"] == "queued"} == {
        SENDS_AT
    }
    notice = {row["recipient"]: row["state"] for row in shop.rows("opening-hours")}
    assert notice == dict.fromkeys([*friends, "ute@example.com", "paul@example.com"], "queued")

    # Planned, not sent yet: Ute follows the one-click unsubscribe link of her older mail.
    assert len(shop.handler.arrivals) == 1
    link = shop.handler.to("ute@example.com")[0].message()["List-Unsubscribe"]
    url = str(link).split(",")[0].strip().strip("<>")
    assert url.startswith(f"http://127.0.0.1:{engine.http_port}/u/")
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200, answer.text

    shop.move_to(SENDS_AT)
    expected = 2 * len(friends) + 1 + 1  # both to the friends, the notice to Paul, Ute's older
    await shop.until(lambda: len(shop.handler.arrivals) >= expected, "the broadcasts' mail")
    await shop.until(
        lambda: not {"queued", "sending"} & {*shop.states("sale"), *shop.states("opening-hours")},
        "every message settled",
    )
    await engine.stop()

    received = shop.handler.counts()
    assert received == {**dict.fromkeys(friends, 2), "paul@example.com": 1, "ute@example.com": 1}
    for address, name in zip(friends, FRIENDS, strict=True):
        subjects = sorted(arrival.subject for arrival in shop.handler.to(address))
        assert subjects == [f"{name}, 20 % off knitwear", f"{name}, our new opening hours"]
        mail = next(a for a in shop.handler.to(address) if "knitwear" in a.subject).message()
        html = mail.get_body(("html",))
        assert html is not None
        text = html.get_content()
        hello = "Hallo" if 'lang="de"' in text else "Hello"  # the template's own copy is German
        assert "The autumn sale" in text and f"{hello} {name}," in text  # for de customers
        assert "Everything warm is 20 % off until Sunday." in text
    assert [a.subject for a in shop.handler.to("paul@example.com")] == [
        "Paul, our new opening hours"
    ]
    skipped = {row["recipient"]: row["last_reply"] for row in shop.rows("sale")}
    assert skipped["ute@example.com"] == "address suppressed (unsubscribe)"
    states = shop.states("opening-hours")
    assert states == {"sent": len(friends) + 1, "suppressed": 1}

    report = await shop.cli("broadcast", "report", "sale", "--json")
    assert report.code == 0, report.err
    figures = json.loads(report.out)["variants"]["all"]
    assert (figures["planned"], figures["sent"], figures["skipped"]) == (10, 8, 2)
    assert figures["unsubscribed"] == 0  # she left before this one reached her
