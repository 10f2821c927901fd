"""The shipped NPS flow: an order through the API, the thank-you workflow's NPS mail three
weeks later, an answer sent from its page; a promoter gets the review invitation (naming
their answer and their order), a detractor a ticket and no invitation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.store.tickets import list_tickets
from tests.engine.harness import EngineHarness
from tests.web.conftest import PUBLIC_URL, SECRET
from tests.web.shop import Shop

REPO = Path(__file__).resolve().parents[2]
ORIGIN = {"Origin": PUBLIC_URL}
NPS = "One question about your order"
INVITATION = "Thank you, "
SHIRT = [("TS-100", "Organic cotton T-shirt", "24.90")]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    paths = {"polls": REPO / "polls", "questionnaires": REPO / "questionnaires"}
    return settings.model_copy(update={"paths": settings.paths.model_copy(update=paths)})


@pytest.fixture
def shop(
    client: httpx.AsyncClient, database: Database, clock: FrozenClock, settings: Settings
) -> Shop:
    return Shop(client, EngineHarness(database, clock, settings=settings, secret=SECRET))


async def _answer(shop: Shop, address: str, score: int, comment: str = "") -> None:
    (mail,) = shop.mails_to(address, NPS)
    link = mail.link(str(score))
    assert link.startswith(f"{PUBLIC_URL}/poll/delivery_nps/{score}/")
    sent = await shop.client.post(
        link, data={"answer": str(score), "comment": comment}, headers=ORIGIN
    )
    assert sent.status_code == 200, sent.text


async def test_a_promoter_is_invited_to_review_and_a_detractor_gets_a_person(
    shop: Shop, clock: FrozenClock, database: Database
) -> None:
    for address, name in (("pro@example.com", "Pia"), ("det@example.com", "Dan")):
        await shop.customer(address, name)
        await shop.order(address, f"SO-{name}", SHIRT, clock.now())
    await shop.engine.tick()
    await shop.engine.run_for(timedelta(days=22), step=timedelta(hours=12))
    assert len(shop.mails_to("pro@example.com", NPS)) == 1

    await _answer(shop, "pro@example.com", 10)
    await _answer(shop, "det@example.com", 2, "Too small, and nobody answered my mail.")
    await shop.engine.run_for(timedelta(days=2), step=timedelta(hours=6))

    (invitation,) = shop.mails_to("pro@example.com", INVITATION)
    text, shown = invitation.both()
    assert "You gave us a 10 out of 10" in text and "Organic cotton T-shirt" in shown
    assert (await shop.follow(invitation.link("Review this piece"))).endswith("?order=SO-Pia")
    assert shop.mails_to("det@example.com", INVITATION) == []
    with database.session() as session:
        (ticket,) = list_tickets(session, open_only=True)
    assert ticket.address == "det@example.com"
    assert "Too small" in ticket.subject
