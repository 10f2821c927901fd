"""Broadcast topics on the customers' preferences page, through the page as a reader uses it:
the page lists the topics of the broadcast files and of the broadcasts stored through the
API; turning "promotions" off there keeps that customer, and only that one, out of a
scheduled promotion, at planning and again at send time. The app is the one `mailengine run`
serves, over real HTTP, on SQLite and PostgreSQL (frozen clock)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from mailengine.addresses import address_hash
from mailengine.cli.web_app import build_web_app
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.broadcast_planner import BroadcastPlanner
from mailengine.engine.broadcast_sources import read_stored
from mailengine.outbound.send_checks import check_at_send_time
from mailengine.store.database import Database
from mailengine.store.outbox import claim_due
from mailengine.store.privacy import preferences_of
from mailengine.tokens import make_token
from mailengine.web.api_keys import hash_api_key
from tests.conftest import NOW
from tests.web.conftest import API_KEY, AUTH, PUBLIC_URL, add_customers, serving

REPO = Path(__file__).resolve().parents[2]
LETTER = """\
name: december-letter
topic: newsletter
template: newsletter/newsletter
subject: Our December letter
send_at: "2026-12-17 10:00"
"""
PROMOTION = {
    "name": "flash-sale",
    "topic": "promotions",
    "template": "newsletter/newsletter",
    "subject": "{{ customer.first_name | default('Hello') }}, 30 % off today",
    "send_at": "2026-11-23 11:00",  # an hour from now, in Berlin
}
_CHECKBOX = re.compile(r'<input type="checkbox" name="topic" value="([^"]+)"( checked)?>([^<]*)')


@pytest.fixture
def shop_settings(tmp_path: Path) -> Settings:
    base = Settings()
    (tmp_path / "broadcasts").mkdir()
    (tmp_path / "broadcasts" / "december-letter.yaml").write_text(LETTER, encoding="utf-8")
    return base.model_copy(
        update={
            "http": base.http.model_copy(
                update={"public_url": PUBLIC_URL, "api_keys": [hash_api_key(API_KEY)]}
            ),
            "paths": base.paths.model_copy(
                update={
                    "templates": REPO / "templates",
                    "broadcasts": tmp_path / "broadcasts",
                    "var": tmp_path / "var",
                }
            ),
        }
    )


class Reader:
    """A customer on their preferences page, over HTTP."""

    def __init__(self, client: httpx.AsyncClient, secret: bytes, email: str) -> None:
        self.client = client
        token = make_token(secret, "preferences", address_hash(email), NOW)
        self.path = f"/preferences/{token}"

    async def topics(self) -> dict[str, tuple[str, bool]]:
        """topic -> (its label, whether its box is ticked), as the page's form has them."""
        page = await self.client.get(self.path)
        assert page.status_code == 200, page.text
        return {value: (label, bool(on)) for value, on, label in _CHECKBOX.findall(page.text)}

    async def keep_only(self, *topics: str) -> None:
        """Tick `topics` only and save, the form sent from the page itself."""
        saved = await self.client.post(
            self.path,
            data={"topic": list(topics), "action": "save"},
            headers={"Origin": PUBLIC_URL, "Referer": PUBLIC_URL + self.path},
        )
        assert saved.status_code == 200, saved.text
        assert "Saved." in saved.text


@pytest.fixture
async def shop(
    database: Database, shop_settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, bytes]]:
    web = build_web_app(shop_settings, database, clock, workflows=[])
    async with serving(web.app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield client, web.app.state.web.secret


async def test_turning_promotions_off_stops_a_scheduled_promotion_for_that_customer_only(
    shop: tuple[httpx.AsyncClient, bytes],
    database: Database,
    shop_settings: Settings,
    clock: FrozenClock,
) -> None:
    client, secret = shop
    ids = add_customers(
        database,
        [(f"{name}@example.com", "granted") for name in ("ada", "ben", "cy")],
    )
    ada = Reader(client, secret, "ada@example.com")
    cy = Reader(client, secret, "cy@example.com")
    # Before the promotion is stored, only the file's topic is offered.
    assert await ada.topics() == {"newsletter": ("Newsletter", True)}
    created = await client.post("/v1/broadcasts", json=PROMOTION, headers=AUTH)
    assert created.status_code == 201, created.text
    assert await ada.topics() == {
        "newsletter": ("Newsletter", True),
        "promotions": ("Offers and sales", True),
    }
    await ada.keep_only("newsletter")
    assert await ada.topics() == {
        "newsletter": ("Newsletter", True),
        "promotions": ("Offers and sales", False),
    }
    # The engine plans the promotion five minutes before it goes: Ada is left out.
    clock.advance(timedelta(minutes=55))
    planner = BroadcastPlanner(
        database, shop_settings, secret=secret, worker_id="engine-1",
        read_source=read_stored, pick_winner=lambda *_: ("", ""),
    )  # fmt: skip
    assert planner.run_due(clock.now) == ["flash-sale"]
    # Cy turns promotions off after planning: checked again when the mail goes.
    await cy.keep_only("newsletter")
    clock.advance(timedelta(minutes=5))
    with database.transaction() as session:
        claimed = claim_due(session, "dispatcher", clock.now(), 100, timedelta(minutes=5))
        checked = check_at_send_time(session, claimed, clock.now(), worker="dispatcher")
    verdicts = {send.customer_id: checked.verdicts[send.id] for send in claimed}
    assert all(send.payload["topic"] == "promotions" for send in claimed)
    assert verdicts == {
        ids["ben@example.com"]: None,
        ids["cy@example.com"]: "the customer opted out of promotions mail",
    }
    # The newsletter is still theirs to get.
    with database.session() as session:
        assert preferences_of(session, ids["ada@example.com"]) == {
            "newsletter": True,
            "promotions": False,
        }
