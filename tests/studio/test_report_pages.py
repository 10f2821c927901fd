"""The Reports pages over HTTP on hand-made sends, events and orders with known figures."""

from __future__ import annotations

import re
from html import unescape

import httpx
import time_machine

from mailengine.intervals import rate_difference, relative_lift
from mailengine.store.database import Database
from mailengine.studio.number_format import NumberFormat
from tests.studio.test_workflow_pages import cells
from tests.web.test_report import shop

NUMBERS = NumberFormat("en_US", "EUR")


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_every_workflows_totals_and_the_days(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    shop(database)
    page = await marketer_client.get("/studio/reports")
    assert page.status_code == 200, page.text
    difference = rate_difference((2, 4), (1, 4))  # a and f of four mailed; h1 of four held out
    assert cells(page.text, "/studio/reports/win-back") == [
        "win-back", "4", "3", "2", "1 (25.0 %)", "1 (25.0 %)", "1", "1", "€100.00",
        f"+25.0 pts 95 % CI {NUMBERS.points(difference.low)} to "
        f"{NUMBERS.points(difference.high)} not clear yet",
    ]  # fmt: skip
    assert cells(page.text, "/studio/reports/welcome")[-1] == "no holdout"
    assert len(re.findall(r'<figure class="chart panel">', page.text)) == 4
    tables = re.findall(r"<caption[^>]*>([^<]+)</caption>", page.text)
    assert tables == [
        "Sends and deliveries per day", "Opens, clicks and unsubscribes per day",
        "Conversions per day", "Revenue per day",
    ]  # fmt: skip
    assert "Sent 6" in text_of(page.text)  # four win-back, two welcome


async def test_a_workflows_steps_and_holdout_lift(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    shop(database)
    page = await marketer_client.get("/studio/reports/win-back", params={"period": "30d"})
    assert page.status_code == 200, page.text
    assert cells(page.text, "Send 1 · step 1 · win-back/we-miss-you")[:4] == [
        "Send 1 · step 1 · win-back/we-miss-you", "4", "3", "2",
    ]  # fmt: skip
    holdout = re.search(r'id="holdout-heading".*?</table>', page.text, re.S)
    assert holdout
    relative = relative_lift((2, 4), (1, 4))
    assert relative is not None
    row = cells(holdout.group(0), "All steps")
    assert row[1:3] == ["2 of 4 (50.0 %)", "1 of 4 (25.0 %)"]
    assert row[4] == (
        f"+100.0 % {NUMBERS.percent(relative.low, signed=True)} to "
        f"{NUMBERS.percent(relative.high, signed=True)}"
    )
    assert "Newcombe" in page.text
    revenue = re.search(r"<caption[^>]*>Revenue per day</caption>.*?</table>", page.text, re.S)
    assert revenue and '<th scope="row">Nov 15</th><td class="num">€100.00</td>' in (
        revenue.group(0)
    )


async def test_no_mail_unknown_names_and_bad_periods(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    shop(database)
    quiet = await marketer_client.get("/studio/reports/birthday")
    assert quiet.status_code == 200 and "birthday planned no mail in the last 30 days" in quiet.text
    missing = await marketer_client.get("/studio/reports/nope")
    known = "known: birthday, churn-risk-win-back, nps-promoters, replenish, thank-you"
    assert missing.status_code == 404 and known in missing.text
    period = await marketer_client.get("/studio/reports", params={"period": "1y"})
    assert period.status_code == 400 and "choose one of 7d, 30d, 90d" in period.text
