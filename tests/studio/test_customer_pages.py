"""The Customers pages through the real app: search, the single customer view, roles."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import update

from mailengine.config import Settings
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.records import CustomerUpsert
from tests.conftest import NOW
from tests.studio.people_shop import EMAIL, add_lived_customer

pytestmark = pytest.mark.usefixtures("frozen_time")


def _text(page: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(page: str, heading_id: str) -> str:
    found = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    assert found, f"no section {heading_id}"
    return _text(found[0])


async def test_search_finds_a_customer_by_name_and_links_the_view(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    lived = add_lived_customer(database, NOW)
    page = await marketer_client.get("/studio/customers", params={"q": "müll"})
    assert page.status_code == 200
    rows = re.findall(r'<a href="/studio/customers/(\d+)">([^<]+)</a>', page.text)
    assert rows == [(str(lived.customer_id), "Anna Müller")]
    assert "Customers 1–1 starting with “müll”" in html.unescape(page.text)

    nothing = await marketer_client.get("/studio/customers", params={"q": "üller"})
    assert "No customers starting with" in html.unescape(nothing.text)
    assert "match=contains" in nothing.text
    inside = await marketer_client.get(
        "/studio/customers", params={"q": "üller", "match": "contains"}
    )
    assert f'<a href="/studio/customers/{lived.customer_id}">' in inside.text


async def test_search_results_come_in_pages(
    support_client: httpx.AsyncClient, database: Database
) -> None:
    people = [CustomerUpsert(email=f"kim{n:02d}@example.com") for n in range(30)]
    with database.transaction() as session:
        upsert_customers(session, people, NOW)
    first = await support_client.get("/studio/customers", params={"q": "kim"})
    assert len(re.findall(r'href="/studio/customers/\d+"', first.text)) == 25
    assert 'href="/studio/customers?q=kim&amp;page=2" rel="next"' in first.text
    second = await support_client.get("/studio/customers", params={"q": "kim", "page": 2})
    assert "kim29@example.com" in second.text and "kim24@example.com" not in second.text
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text


async def test_the_customer_view_shows_everything_in_the_shops_time(
    support_client: httpx.AsyncClient, database: Database
) -> None:
    lived = add_lived_customer(database, NOW)
    page = await support_client.get(f"/studio/customers/{lived.customer_id}")
    assert page.status_code == 200
    profile = _section(page.text, "profile-heading")
    said = [
        EMAIL,
        "Language German (Germany) (de_DE)",
        "Time zone Europe/Berlin",
        "ZIP and city 10115 Berlin, DE",
        "Sizes shirt size M shoe size 39",
        "Favourite category denim",
    ]
    assert [item for item in said if item not in profile] == [], profile
    consent = _section(page.text, "consent-heading")
    assert "granted 14 Oct 2026, 11:00 via checkout from 203.0.113.9" in consent
    assert "Suppression list not on it" in consent
    workflows = _section(page.text, "workflows-heading")
    # NOW is 09:00 UTC, 10:00 in Berlin: welcome's step 3 is due three days later.
    assert (
        "welcome active step 3: send welcome/our-favourites Thu 26 Nov, 10:00 (in 3 days)"
        in workflows
    )
    assert (
        "thank-you active step 3: send thank-you/how-is-it Sat 05 Dec, 11:00 (in 12 days)"
        in workflows
    )
    mail = _section(page.text, "mail-heading")
    # The subjects as Anna reads them: rendered for her, in German (the outbox keeps the
    # workflow's Jinja source, in English).
    assert (
        "Willkommen bei Example Shop, Anna welcome · step 1 · welcome/hello "
        "sent 1 250 2.0.0 Ok: queued as 4XyZ 2 1" in mail
    )
    assert (
        "Danke für deine Bestellung, Anna thank-you · step 1 · thank-you/order-confirmed "
        "· transactional deferred 1 451 4.7.1 Greylisted, try again later — —" in mail
    )
    assert "{{" not in mail and "Thank you" not in mail
    orders = _section(page.text, "orders-heading")
    assert "W00000042 21 Nov 2026, 10:00 online paid" in orders
    assert "2 × Organic cotton T-shirt (M) 1 × Wool socks, 3 pairs (39) €74.80" in orders
    assert "S00000007 24 Oct 2026, 11:00 in store · Berlin Mitte delivered" in orders
    assert "€179.00" in orders
    events = _section(page.text, "events-heading")
    assert (
        "order.placed 21 Nov 2026, 10:00 waiting for the engine order_id: W00000042 · total: 74.80"
        in events
    )
    tickets = _section(page.text, "tickets-heading")
    assert "T-1 open Where is my parcel? 0 messages · last 23 Nov 2026, 05:00" in tickets


async def test_every_role_may_open_a_customer_and_strangers_may_not(
    log_in_as: object, studio_client: httpx.AsyncClient, database: Database
) -> None:
    lived = add_lived_customer(database, NOW)
    path = f"/studio/customers/{lived.customer_id}"
    for email, role in (("ada@shop.example", "admin"), ("max@shop.example", "marketer")):
        client = await log_in_as(email, role)  # type: ignore[operator]
        assert (await client.get(path)).status_code == 200
    anonymous = await studio_client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.text == "log in first: /studio/login"


async def test_an_unknown_customer_is_not_found(marketer_client: httpx.AsyncClient) -> None:
    answer = await marketer_client.get("/studio/customers/999999")
    assert answer.status_code == 404
    assert "There is no customer number 999999." in answer.text


async def test_a_subject_that_cannot_be_rendered_is_shown_as_written_with_why(
    support_client: httpx.AsyncClient, database: Database
) -> None:
    lived = add_lived_customer(database, NOW)
    with database.transaction() as session:
        session.execute(
            update(outbox_table)
            .where(outbox_table.c.id == lived.deferred_id)
            .values(subject="Your order {{ order.missing.deeper }}")
        )
    page = await support_client.get(f"/studio/customers/{lived.customer_id}")
    assert page.status_code == 200
    mail = _section(page.text, "mail-heading")
    assert "Willkommen bei Example Shop, Anna" in mail
    written = re.search(r"Your order \{\{ order\.missing\.deeper \}\} as written: (.{0,200})", mail)
    assert written, mail
    assert "subject" in written[1] and EMAIL in written[1], written[1]


async def test_an_edited_translation_shows_on_the_next_visit(
    support_client: httpx.AsyncClient, database: Database, studio_settings: Settings
) -> None:
    """The page keeps the compiled templates between visits, but not past an edit."""
    lived = add_lived_customer(database, NOW)
    path = f"/studio/customers/{lived.customer_id}"
    first = _section((await support_client.get(path)).text, "mail-heading")
    assert "Danke für deine Bestellung, Anna" in first
    catalog = studio_settings.paths.templates / "locales/de/LC_MESSAGES/messages.po"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(
        text.replace('"Danke für deine Bestellung', '"Vielen Dank für deine Bestellung')
    )
    again = _section((await support_client.get(path)).text, "mail-heading")
    assert "Vielen Dank für deine Bestellung, Anna" in again
