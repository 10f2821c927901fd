"""Order mail names the order it is about: posted through the API, planned and sent by the
engine, read in the received message's text and HTML."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.database import Database
from tests.engine.harness import EngineHarness
from tests.web.conftest import SECRET
from tests.web.shop import Mail, Shop

ADA = "ada@example.com"
CONFIRMATION = "Thank you for your order"
LINEN = [("LIN-1", "Linen shirt", "59.90")]
SCARF = [("SCA-2", "Wool scarf", "24.50")]
ORDER_HEADING = re.compile(r"\bOrder ([A-Z0-9-]+) Placed on\b")


@pytest.fixture
def shop(
    client: httpx.AsyncClient, database: Database, clock: FrozenClock, settings: Settings
) -> Shop:
    return Shop(client, EngineHarness(database, clock, settings=settings, secret=SECRET))


def about(mail: Mail) -> str:
    """The order number a confirmation shows in its summary (text and HTML agree on it)."""
    numbers: set[str] = {n for text in mail.both() for n in ORDER_HEADING.findall(text)}
    assert len(numbers) == 1, numbers
    return numbers.pop()


async def test_two_orders_a_second_apart_get_a_confirmation_each_naming_its_own(
    shop: Shop, clock: FrozenClock
) -> None:
    await shop.customer(ADA, "Ada")
    await shop.order(ADA, "SO-1001", LINEN, clock.now())
    clock.advance(timedelta(seconds=1))
    await shop.order(ADA, "SO-1002", SCARF, clock.now())
    await shop.engine.tick()

    confirmations = {about(mail): mail for mail in shop.mails_to(ADA, CONFIRMATION)}
    assert sorted(confirmations) == ["SO-1001", "SO-1002"]
    for text in confirmations["SO-1001"].both():
        assert "Linen shirt" in text and "€59.90" in text
        assert "Wool scarf" not in text and "€24.50" not in text
    for text in confirmations["SO-1002"].both():
        assert "Wool scarf" in text and "€24.50" in text
        assert "Linen shirt" not in text and "€59.90" not in text

    # Two weeks later each follow-up asks about its own order, too.
    await shop.engine.run_for(timedelta(days=15), step=timedelta(hours=12))
    follow_ups = shop.mails_to(ADA, "How is your order")
    assert len(follow_ups) == 2
    reviewed = sorted("SO-1001" if "Linen shirt" in mail.text else "SO-1002" for mail in follow_ups)
    assert reviewed == ["SO-1001", "SO-1002"]
    for mail in follow_ups:
        number = "SO-1001" if "Linen shirt" in mail.text else "SO-1002"
        assert f"from order {number}" in mail.text
        target = await shop.follow(mail.link("Review this piece"))
        assert target.endswith(f"?order={number}")


async def test_a_store_order_recorded_late_is_confirmed_as_itself(
    shop: Shop, clock: FrozenClock
) -> None:
    await shop.customer(ADA, "Ada")
    await shop.order(ADA, "WEB-7", LINEN, clock.now())
    await shop.engine.tick()
    (online,) = shop.mails_to(ADA, CONFIRMATION)
    assert about(online) == "WEB-7"

    # The till sends this morning's store purchase an hour after the online order.
    clock.advance(timedelta(hours=1))
    placed = clock.now() - timedelta(hours=3)
    await shop.order(ADA, "STORE-3", SCARF, placed, channel="store", store_location="Berlin")
    await shop.engine.tick()
    first, store = shop.mails_to(ADA, CONFIRMATION)
    assert about(first) == "WEB-7"
    assert about(store) == "STORE-3"
    for text in store.both():
        assert "It was lovely to see you in store" in text
        assert "in one of our stores" in text
        assert "Wool scarf" in text and "€24.50" in text
        assert "Linen shirt" not in text
