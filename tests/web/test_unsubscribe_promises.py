"""What the unsubscribe and preferences pages promise is what the engine then does.

An unsubscribe stops marketing for good, while order mail (and answers to questions) still
arrives; a hard bounce, a complaint or `customer forget` stops every mail, and the pages say
so instead of promising order mail.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.store.privacy import forget_customer
from mailengine.store.suppressions import suppress, suppression_reason
from mailengine.web.app import topics_from_workflows
from mailengine.workflows.loader import load_workflows
from tests.engine.harness import REPO, EngineHarness
from tests.web.conftest import SECRET, AppFactory
from tests.web.shop import Shop

ADA = "ada@example.com"
WELCOME = "Welcome to Example Shop"
FAVOURITES = "Our favourites"
CONFIRMATION = "Thank you for your order"
FOLLOW_UP = "How is your order"
SHIPPED_TOPICS = topics_from_workflows(load_workflows([REPO / "workflows"]).workflows.values())


@pytest.fixture
async def shop(
    make_app: AppFactory, database: Database, clock: FrozenClock, settings: Settings
) -> AsyncIterator[Shop]:
    """The shipped workflows behind both the engine and the pages, as `mailengine run` has it."""
    app = make_app(topics=SHIPPED_TOPICS)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    engine = EngineHarness(database, clock, settings=settings, secret=SECRET)
    async with httpx.AsyncClient(transport=transport, base_url=settings.http.public_url) as c:
        yield Shop(c, engine)


def page_text(response: httpx.Response) -> str:
    body = re.sub(r"<(style|head)\b.*?</\1>", " ", response.text, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def still_sent(response: httpx.Response) -> list[str]:
    """The kinds of mail a page promises still arrive, by their bold titles."""
    return re.findall(r"<li><strong>([^<]+)</strong>", response.text)


async def test_after_an_unsubscribe_order_mail_arrives_and_marketing_does_not(
    shop: Shop, clock: FrozenClock
) -> None:
    await shop.customer(ADA, "Ada")
    await shop.engine.tick()
    (welcome,) = shop.mails_to(ADA, WELCOME)

    # Ada follows the link in the welcome mail and reads what unsubscribing means.
    link = welcome.link("Unsubscribe")
    asked = await shop.client.get(link)
    assert asked.status_code == 200
    question = page_text(asked)
    assert "will get no more newsletters, offers or other marketing email" in question
    assert (
        "(Birthday greeting, Come back soon, Review invitations, Restock reminders, VIP circle, "
        "Welcome mails, We miss you)"
    ) in question
    assert still_sent(asked) == ["Order confirmations", "Answers to your questions"]
    assert "What you ordered and when it ships" in question
    assert "two weeks later, one question on how it went" in question
    assert "a week after, whether you would recommend us" in question

    done = await shop.client.post(link)  # the page's button
    answer = page_text(done)
    assert "You are unsubscribed" in answer
    assert still_sent(done) == ["Order confirmations", "Answers to your questions"]
    with shop.engine.database.session() as session:
        assert suppression_reason(session, ADA) == "unsubscribe"

    # The promise: her next order is confirmed, and asked about two weeks later ...
    clock.advance(timedelta(hours=2))
    await shop.order(ADA, "SO-77", [("LIN-1", "Linen shirt", "59.90")], clock.now())
    await shop.engine.tick()
    (confirmation,) = shop.mails_to(ADA, CONFIRMATION)
    assert "SO-77" in confirmation.text and "Linen shirt" in confirmation.html_text
    # ... as service mail: no List-Unsubscribe that could not stop it anyway.
    assert confirmation.message["List-Unsubscribe"] is None
    assert "service message about your order SO-77" in confirmation.text
    await shop.engine.run_for(timedelta(days=15), step=timedelta(hours=12))
    assert len(shop.mails_to(ADA, FOLLOW_UP)) == 1
    # ... and the welcome series, marketing, stopped: no favourites, no first-order coupon.
    assert shop.mails_to(ADA, FAVOURITES) == []
    assert [mail.subject for mail in shop.mails_to(ADA)] == [
        "Welcome to Example Shop, Ada",
        "Thank you for your order, Ada",
        "How is your order, Ada?",
    ]


async def test_the_preferences_page_offers_public_names_and_says_what_always_comes(
    shop: Shop,
) -> None:
    await shop.customer(ADA, "Ada")
    await shop.engine.tick()
    (welcome,) = shop.mails_to(ADA, WELCOME)
    page = await shop.client.get(welcome.link("Email preferences"))
    text = page_text(page)
    labels = re.findall(r'name="topic" value="([^"]+)"[^>]*>([^<]+)<small>([^<]+)', page.text)
    assert [(name, label) for name, label, _ in labels] == [
        ("birthday", "Birthday greeting"),
        ("churn-risk-win-back", "Come back soon"),
        ("nps-promoters", "Review invitations"),
        ("replenish", "Restock reminders"),
        ("vip", "VIP circle"),
        ("welcome", "Welcome mails"),
        ("win-back", "We miss you"),
    ]
    assert "top 20 %" not in text and "spend" not in text  # internal notes stay internal
    assert "thank-you" not in page.text  # order mail is no choice to make
    assert still_sent(page) == ["Order confirmations", "Answers to your questions"]

    # Dropping everything but birthdays: order mail still comes, the welcome series does not.
    saved = await shop.client.post(welcome.link("Email preferences"), data={"topic": "birthday"})
    assert "Saved." in page_text(saved)
    await shop.order(ADA, "SO-78", [("SCA-2", "Wool scarf", "24.50")], shop.engine.clock.now())
    await shop.engine.run_for(timedelta(days=8), step=timedelta(hours=12))
    assert [mail.subject for mail in shop.mails_to(ADA)] == [
        "Welcome to Example Shop, Ada",
        "Thank you for your order, Ada",
    ]


@pytest.mark.parametrize("reason", ["hard-bounce", "complaint", "forgotten"])
async def test_an_address_that_gets_no_mail_at_all_is_told_so_and_gets_none(
    shop: Shop, clock: FrozenClock, reason: str
) -> None:
    """An unsubscribe first, then a bounce, a complaint or an erasure: nothing goes any more."""
    await shop.customer(ADA, "Ada")
    await shop.engine.tick()
    (welcome,) = shop.mails_to(ADA, WELCOME)
    link = welcome.link("Unsubscribe")
    await shop.client.post(link)
    now = clock.now()
    with shop.engine.database.transaction() as session:
        if reason == "forgotten":
            forget_customer(session, ADA, now)
        else:
            suppress(session, ADA, reason, now, "test")
    with shop.engine.database.session() as session:
        assert suppression_reason(session, ADA) == reason  # stronger than the unsubscribe
    page = page_text(await shop.client.get(link))
    assert "We send no email at all to" in page and "not even order confirmations" in page
    assert "still" not in page.lower()
    preferences = page_text(await shop.client.get(welcome.link("Email preferences")))
    assert "not even order confirmations" in preferences

    # The same customer (or, after forget, a new one with the same address) orders again.
    await shop.customer(ADA, "Ada")
    await shop.order(ADA, "SO-79", [("LIN-1", "Linen shirt", "59.90")], clock.now())
    await shop.engine.run_for(timedelta(days=1))
    assert [mail.subject for mail in shop.mails_to(ADA)] == ["Welcome to Example Shop, Ada"]
