"""One-click unsubscribe (RFC 8058), the unsubscribe and preferences pages, forged links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailengine.addresses import address_hash
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.outbound.dispatcher import Dispatcher
from mailengine.outbound.transport.memory import MemoryTransport
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import consent_history, get_customer
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import opted_out_topics, preferences_of
from mailengine.store.suppressions import suppressed_hashes, suppression_reason
from tests.web.conftest import SECRET, add_customers, plan_marketing, token

REPO = Path(__file__).resolve().parents[2]
ADA = "ada@example.com"
FORM = "application/x-www-form-urlencoded"


def assert_no_cookie_no_redirect(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_one_click_post_unsubscribes_in_both_encodings(
    client: httpx.AsyncClient, database: Database, encoding: str
) -> None:
    ids = add_customers(database, [(ADA, "granted"), ("bo@example.com", "granted")])
    url = f"/u/{token('unsubscribe', ADA)}"
    if encoding == "urlencoded":
        response = await client.post(
            url, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": FORM}
        )
    else:
        response = await client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert_no_cookie_no_redirect(response)
    assert "You are unsubscribed" in response.text
    with database.session() as session:
        ada = get_customer(session, ADA)
        assert ada is not None and ada.consent_status == "withdrawn"
        history = consent_history(session, ids[ADA])
        assert suppression_reason(session, ADA) == "unsubscribe"
        bo = get_customer(session, "bo@example.com")
        assert bo is not None and bo.consent_status == "granted"
        assert suppression_reason(session, "bo@example.com") is None
    last = history[-1]
    assert (last.status, last.source, last.ip) == ("withdrawn", "one-click", "203.0.113.7")


async def test_a_repeated_one_click_records_one_withdrawal(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    url = f"/u/{token('unsubscribe', ADA)}"
    for _ in range(3):
        response = await client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert_no_cookie_no_redirect(response)
    with database.session() as session:
        statuses = [r.status for r in consent_history(session, ids[ADA])]
    assert statuses == ["granted", "withdrawn"]


async def test_after_one_click_the_next_run_sends_nothing_to_that_address(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FrozenClock
) -> None:
    ids = add_customers(database, [(ADA, "granted"), ("bo@example.com", "granted")])
    plan_marketing(database, ids)  # queued before the unsubscribe: checked at send time
    response = await client.post(
        f"/u/{token('unsubscribe', ADA)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    transport = MemoryTransport()
    composer = Composer(settings, TemplateLibrary(REPO / "templates"), SECRET)
    await Dispatcher(database, transport, composer, clock).drain()
    assert [envelope.rcpt_to for envelope in transport.outbox] == ["bo@example.com"]
    with database.session() as session:
        o = outbox_table.c
        states = dict(session.execute(select(o.recipient, o.state)).all())
    assert states == {ADA: "suppressed", "bo@example.com": "sent"}


async def test_a_forged_or_altered_token_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    genuine = token("unsubscribe", ADA)
    subject, _, signature = genuine.partition(".")
    other_subject = token("unsubscribe", "bo@example.com").partition(".")[0]
    forged = [
        f"{subject}.{signature[:-2]}AA",  # altered signature
        f"{other_subject}.{signature}",  # someone else's address, Ada's signature
        token("preferences", ADA),  # a token for another purpose
        "not-a-token",
        "x" * 300,
    ]
    for bad in forged:
        posted = await client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
        shown = await client.get(f"/u/{bad}")
        assert posted.status_code == shown.status_code == 400
        assert "This link does not work" in posted.text
    with database.session() as session:
        ada = get_customer(session, ADA)
        assert ada is not None and ada.consent_status == "granted"
        assert suppressed_hashes(session, [address_hash(ADA)]) == set()
        assert len(consent_history(session, ids[ADA])) == 1


async def test_the_unsubscribe_page_asks_first_then_records_the_page_as_source(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    url = f"/u/{token('unsubscribe', ADA)}"
    page = await client.get(url)
    assert page.status_code == 200
    assert '<form method="post">' in page.text and "a•••@example.com" in page.text
    assert "../preferences/" in page.text
    assert page.headers["referrer-policy"] == "same-origin"  # the token goes to no other site
    assert "script-src" not in page.headers["content-security-policy"]
    with database.session() as session:
        assert get_customer(session, ADA).consent_status == "granted"  # type: ignore[union-attr]
    done = await client.post(url)  # the page's own button: an empty form
    assert_no_cookie_no_redirect(done)
    with database.session() as session:
        assert consent_history(session, ids[ADA])[-1].source == "unsubscribe-page"
    again = await client.get(url)
    assert "You are unsubscribed" in again.text


async def test_a_link_for_an_address_without_customer_still_suppresses_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        f"/u/{token('unsubscribe', 'stranger@example.com')}",
        data={"List-Unsubscribe": "One-Click"},
    )
    assert response.status_code == 200
    with database.session() as session:
        assert suppression_reason(session, "stranger@example.com") == "unsubscribe"


async def test_the_preferences_page_shows_a_form_and_saves_choices(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    url = f"/preferences/{token('preferences', ADA)}"
    page = await client.get(url)
    assert page.status_code == 200
    assert page.text.count('type="checkbox"') == 2
    assert 'value="welcome" checked' in page.text and 'value="win-back" checked' in page.text
    saved = await client.post(url, data={"topic": ["welcome"], "action": "save"})
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'value="welcome" checked' in saved.text and 'value="win-back">' in saved.text
    with database.session() as session:
        assert preferences_of(session, ids[ADA]) == {"welcome": True, "win-back": False}
        assert opted_out_topics(session, [ids[ADA]]) == {ids[ADA]: {"win-back"}}
        ada = get_customer(session, ADA)
        assert ada is not None and ada.consent_status == "granted"


async def test_unsubscribing_from_the_preferences_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    url = f"/preferences/{token('preferences', ADA)}"
    done = await client.post(url, data={"action": "unsubscribe"})
    assert done.status_code == 200
    assert "gets no newsletters, offers or other marketing email" in done.text
    with database.session() as session:
        assert consent_history(session, ids[ADA])[-1].source == "preferences-page"
        assert suppression_reason(session, ADA) == "unsubscribe"
    forged = await client.post(f"/preferences/{token('unsubscribe', ADA)}", data={})
    assert forged.status_code == 400


async def test_a_link_older_than_its_validity_says_so_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, clock: FrozenClock
) -> None:
    add_customers(database, [(ADA, "granted")])
    old = token("unsubscribe", ADA)
    clock.advance(timedelta(days=366))
    page = await client.get(f"/u/{old}")
    one_click = await client.post(
        f"/u/{old}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == one_click.status_code == 400
    assert "more than 365 days old" in page.text
    with database.session() as session:
        customer = get_customer(session, ADA)
    assert customer is not None and customer.consent_status == "granted"


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),  # a sandboxed frame or a redirect chain
        ({"Referer": "https://evil.example/page"}, False),
        ({"Origin": "https://mail.shop.example"}, True),  # http.public_url
        ({"Referer": "https://mail.shop.example/preferences/x"}, True),
        ({}, True),  # browsers that send neither
    ],
)
async def test_the_preferences_form_counts_only_from_our_own_pages(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str], accepted: bool
) -> None:
    ids = add_customers(database, [(ADA, "granted")])
    url = f"/preferences/{token('preferences', ADA)}"
    response = await client.post(url, data={"action": "unsubscribe"}, headers=headers)
    assert response.status_code == (200 if accepted else 403)
    with database.session() as session:
        customer = get_customer(session, ADA)
        history = consent_history(session, ids[ADA])
    assert customer is not None
    assert (customer.consent_status == "withdrawn") is accepted
    assert (history[-1].source == "preferences-page") is accepted
