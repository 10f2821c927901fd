"""The Simulation page over HTTP: a customer's mails, why another gets none, bad input."""

from __future__ import annotations

import re
from html import unescape

import httpx
import time_machine

from mailengine.store.database import Database
from tests.web.conftest import add_customers
from tests.workflows.conftest import SHIPPED


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_a_customers_mails_on_a_timeline_and_in_a_table(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    add_customers(database, [("cleo@example.com", "granted"), ("dan@example.com", "granted")])
    form = await marketer_client.get("/studio/simulation")
    assert form.status_code == 200
    options = re.findall(r'<option value="([^"]+)"', form.text)
    assert options[: len(SHIPPED)] == list(SHIPPED)
    page = await marketer_client.get(
        "/studio/simulation", params={"workflow": "welcome", "customer": "Cleo@Example.com",
                                      "days": "10"},
    )  # fmt: skip
    assert page.status_code == 200, page.text
    shown = text_of(page.text)
    assert "welcome for cleo@example.com, 10 days" in shown
    assert "Welcome to Example Shop, Cleo" in shown
    assert "Our favourites, picked for you" in shown
    assert re.findall(r'<g class="mail" data-step="([^"]+)"', page.text) == ["1", "3", "5.then.1"]
    suggestions = re.findall(r'class="suggestions">(.*?)</p>', page.text, re.S)
    assert suggestions and "dan@example.com" in suggestions[0]


async def test_the_reasons_a_customer_gets_nothing(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    add_customers(database, [("wanda@example.com", "withdrawn")])
    page = await marketer_client.get(
        "/studio/simulation", params={"workflow": "win-back", "customer": "wanda@example.com",
                                      "days": "3"},
    )  # fmt: skip
    assert page.status_code == 200
    why = re.search(r"Why wanda@example.com gets nothing from win-back</p>(.*?)</ul>", page.text,
                    re.S)  # fmt: skip
    assert why, page.text
    assert "(3 times, as at the first): no marketing consent (withdrawn on 2026-11-23)" in (
        text_of(why.group(1))
    )
    assert '<g class="miss">' in page.text


async def test_bad_input_names_the_field(
    marketer_client: httpx.AsyncClient, support_client: httpx.AsyncClient,
    database: Database, frozen_time: time_machine.Traveller,
) -> None:  # fmt: skip
    add_customers(database, [("cleo@example.com", "granted")])
    cases = [
        ({"workflow": "welcome", "customer": "nobody@example.com"}, 404,
         "customer: no customer has the address nobody@example.com"),
        ({"workflow": "welcome", "customer": "not-an-address"}, 404,
         "customer: &#39;not-an-address&#39; is not an e-mail address"),
        ({"workflow": "welcome", "customer": "cleo@example.com", "days": "0"}, 400,
         "days: 0 is outside 1 to 365"),
        ({"workflow": "welcome", "customer": "cleo@example.com", "days": "soon"}, 400,
         "days: &#39;soon&#39; is not a whole number"),
        ({"workflow": "spring", "customer": "cleo@example.com"}, 404,
         "workflow: no workflow named &#39;spring&#39; loads; known: birthday, churn-risk"),
    ]  # fmt: skip
    for params, status, message in cases:
        page = await marketer_client.get("/studio/simulation", params=params)
        assert (page.status_code, message in page.text) == (status, True), (params, page.text)
        assert 'role="alert"' in page.text and "<svg" not in page.text
    refused = await support_client.get("/studio/simulation", headers={"accept": "text/html"})
    assert refused.status_code == 403
