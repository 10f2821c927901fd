"""Tracked links and the open pixel: rewriting a rendered body, then following it over HTTP."""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from sqlalchemy import func, insert, select

from mailengine.outbound.tracking_links import KEY_LENGTH, LinkList, read_key, rewrite_links
from mailengine.render.wire_html import RelaxedSafeText
from mailengine.store.api_queries import tracked_link_table, tracking_event_table
from mailengine.store.database import Database
from mailengine.store.link_lists import CarriedList, link_list_table, store_link_lists
from mailengine.store.outbox import outbox_table
from mailengine.store.privacy import forget_customer
from mailengine.web.tracking import PIXEL
from tests.conftest import NOW
from tests.web.conftest import PUBLIC_URL, SECRET, add_customers, plan_marketing

BODY = """<!DOCTYPE html><html><body>
<a href="https://shop.example/c/shirts?size=M&amp;utm_source=mail" class="button">Shirts</a>
<a class='x' href='https://shop.example/sale'>Sale</a>
<a href="https://shop.example/c/shirts?size=M&amp;utm_source=mail">Shirts again</a>
<a href="mailto:hello@shop.example">Write</a> <a href="#top">Top</a> <a href="tel:+4930">Call</a>
<a href="https://mail.shop.example/u/abc.def">Unsubscribe</a>
<img src="https://mail.shop.example/assets/logo.png" alt="Logo">
</body></html>"""
SHIRTS = "https://shop.example/c/shirts?size=M&utm_source=mail"


def store(database: Database, outbox_id: int, body: str = BODY) -> list[str]:
    """Rewrite `body` for the message, store its list as the dispatcher does: its keys."""
    tracked = rewrite_links(body, outbox_id, PUBLIC_URL, SECRET)
    assert tracked.links is not None
    with database.session() as session:
        customer_id = session.execute(
            select(outbox_table.c.customer_id).where(outbox_table.c.id == outbox_id)
        ).scalar_one()
    with database.transaction() as session:
        carried = CarriedList(tracked.links.urls, {customer_id})
        store_link_lists(session, {tracked.links.digest: carried}, NOW)
    return list(tracked.keys)


def test_rewrite_tracks_web_links_only_and_adds_one_pixel() -> None:
    tracked = rewrite_links(BODY, 42, PUBLIC_URL, SECRET)
    assert tracked.links == LinkList.of((SHIRTS, "https://shop.example/sale", SHIRTS))
    assert len(tracked.keys) == 4 and len(set(tracked.keys)) == 4
    said = [read_key(SECRET, key) for key in tracked.keys]
    assert [(k.outbox_id, k.position, k.digest) for k in said if k is not None] == [
        (42, 1, tracked.links.digest),
        (42, 2, tracked.links.digest),
        (42, 3, tracked.links.digest),
        (42, 0, tracked.links.digest),
    ]
    assert all(len(key) == KEY_LENGTH for key in tracked.keys)
    for key in tracked.keys[:3]:
        assert f'href="{PUBLIC_URL}/c/{key}"' in tracked.html
    assert "shop.example/sale" not in tracked.html and "utm_source" not in tracked.html
    for untouched in ("mailto:hello@shop.example", "#top", "tel:+4930", f"{PUBLIC_URL}/u/abc.def"):
        assert f'href="{untouched}"' in tracked.html
    pixel = f'<img src="{PUBLIC_URL}/o/{tracked.keys[-1]}.gif" width="1" height="1" alt=""'
    assert pixel in tracked.html
    assert tracked.html.index(pixel) < tracked.html.index("</body>")
    assert 'class="button"' in tracked.html
    assert tracked.targets() == dict(zip(tracked.keys[:3], tracked.links.urls, strict=True))


@pytest.mark.parametrize(
    ("public_url", "kept"),
    [
        (PUBLIC_URL, True),
        ("https://mail.shop.example/a  b", False),
        ("https://x.example/\t", False),
    ],
)
def test_a_body_checked_for_blank_runs_stays_checked_when_its_links_are_tracked(
    public_url: str, kept: bool
) -> None:
    """The encoder trusts a RelaxedSafeText to hold no blank run DKIM would change; tracked
    links and the pixel keep that true unless the public URL itself holds one."""
    checked = RelaxedSafeText(BODY.replace("> <", "><"))
    assert not re.search(r"  | \n|\t|\r| \Z", checked)
    tracked = rewrite_links(checked, 42, public_url, SECRET)
    assert (type(tracked.html) is RelaxedSafeText) is kept
    assert tracked.html == rewrite_links(str(checked), 42, public_url, SECRET).html
    if kept:
        assert not re.search(r"  | \n|\t|\r| \Z", tracked.html)
    assert type(rewrite_links(BODY, 42, PUBLIC_URL, SECRET).html) is str


def test_rewriting_again_gives_the_same_keys_and_other_messages_other_keys() -> None:
    first = rewrite_links(BODY, 42, PUBLIC_URL, SECRET)
    assert rewrite_links(BODY, 42, PUBLIC_URL, SECRET) == first
    other = rewrite_links(BODY, 43, PUBLIC_URL, SECRET)
    assert not set(first.keys) & set(other.keys)
    assert other.links == first.links  # the same list: stored once for both
    assert rewrite_links(BODY, 42, PUBLIC_URL, b"another-secret-key-here").keys != first.keys
    assert all(read_key(b"another-secret-key-here", key) is None for key in first.keys)


def test_a_key_changed_in_any_character_is_not_read() -> None:
    key = rewrite_links(BODY, 42, PUBLIC_URL, SECRET).keys[0]
    for at in range(len(key)):
        changed = key[:at] + ("A" if key[at] != "A" else "B") + key[at + 1 :]
        assert read_key(SECRET, changed) is None, at
    assert read_key(SECRET, key[:-1]) is None and read_key(SECRET, key + "A") is None


def test_tracking_turned_off_leaves_the_body_alone() -> None:
    tracked = rewrite_links(BODY, 42, PUBLIC_URL, SECRET, enabled=False)
    assert tracked.html == BODY and tracked.links is None and tracked.keys == ()


def kinds(database: Database) -> list[tuple[int, str, int | None]]:
    e = tracking_event_table.c
    with database.session() as session:
        rows = session.execute(select(e.outbox_id, e.kind, e.link_position).order_by(e.id))
        return [(outbox_id, kind, position) for outbox_id, kind, position in rows]


def lists_stored(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count()).select_from(link_list_table)).scalar_one())


def ada_and_bo(database: Database) -> dict[str, int]:
    return add_customers(database, [("ada@example.com", "granted"), ("bo@example.com", "granted")])


async def test_pixel_and_clicks_are_recorded_and_redirect_to_the_stored_url(
    client: httpx.AsyncClient, database: Database
) -> None:
    outboxes = plan_marketing(database, ada_and_bo(database))
    keys = store(database, outboxes["ada@example.com"])
    assert store(database, outboxes["ada@example.com"]) == keys  # a re-render: the same keys
    others = store(database, outboxes["bo@example.com"])
    assert lists_stored(database) == 1  # one list for both messages

    opened = await client.get(f"/o/{keys[-1]}.gif")
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "image/gif" and opened.content == PIXEL
    assert "no-store" in opened.headers["cache-control"]

    clicked = await client.get(f"/c/{keys[0]}?url=https://evil.example/")
    assert clicked.status_code == 302
    assert clicked.headers["location"] == SHIRTS
    assert "set-cookie" not in clicked.headers
    sale = await client.get(f"/c/{others[1]}")
    assert sale.headers["location"] == "https://shop.example/sale"

    ada, bo = outboxes["ada@example.com"], outboxes["bo@example.com"]
    assert kinds(database) == [(ada, "open", None), (ada, "click", 1), (bo, "click", 2)]


async def test_links_of_mail_sent_before_link_lists_still_lead_where_they_did(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [("ada@example.com", "granted")])
    outbox_id = plan_marketing(database, ids)["ada@example.com"]
    with database.transaction() as session:
        session.execute(
            insert(tracked_link_table),
            [
                {"key": "oldLinkKey123456", "outbox_id": outbox_id, "url": SHIRTS, "position": 1},
                {"key": "oldPixelKey12345", "outbox_id": outbox_id, "url": None, "position": 0},
            ],
        )
    clicked = await client.get("/c/oldLinkKey123456")
    assert clicked.status_code == 302 and clicked.headers["location"] == SHIRTS
    assert (await client.get("/o/oldPixelKey12345.gif")).status_code == 200
    assert (await client.get("/c/oldPixelKey12345")).status_code == 404
    assert [(o, kind) for o, kind, _ in kinds(database)] == [
        (outbox_id, "click"),
        (outbox_id, "open"),
    ]


async def test_unknown_keys_and_wrong_uses_are_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    outboxes = plan_marketing(database, ada_and_bo(database))
    keys = store(database, outboxes["ada@example.com"])
    link, pixel = keys[0], keys[-1]
    # A real key of a message whose list was never stored (it was not sent).
    unsent = rewrite_links(BODY + "<a href='https://x.example/'>x</a>", 1, PUBLIC_URL, SECRET)
    # A stored list's key, made for Ada's message, altered to name another message.
    raw = bytearray(base64.urlsafe_b64decode(link))
    raw[:6] = outboxes["bo@example.com"].to_bytes(6, "big")
    for path in (
        "/c/AAAAAAAAAAAAAAAA",
        "/c/" + "A" * KEY_LENGTH,
        f"/c/{pixel}",  # the pixel is no link
        f"/o/{link}.gif",  # a link is no pixel
        "/o/AAAAAAAAAAAAAAAA.gif",
        "/c/has%20space",
        "/c/" + "k" * 40,
        f"/c/{unsent.keys[0]}",
        f"/c/{rewrite_links(BODY, 999, PUBLIC_URL, SECRET).keys[0]}",  # no such message
        f"/c/{base64.urlsafe_b64encode(bytes(raw)).decode()}",  # its HMAC no longer fits
        f"/c/{link[:-2]}",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    assert kinds(database) == []


async def test_erasing_a_customer_ends_their_links_and_their_own_list_only(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = ada_and_bo(database)
    outboxes = plan_marketing(database, ids)
    shared = store(database, outboxes["ada@example.com"])
    bos = store(database, outboxes["bo@example.com"])
    personal = '<a href="https://shop.example/r?who=ada%40example.com">Your page</a>'
    second = plan_marketing(database, {"ada@example.com": ids["ada@example.com"]}, step="2")
    own = store(database, second["ada@example.com"], personal)
    assert lists_stored(database) == 2
    with database.transaction() as session:
        forget_customer(session, "ada@example.com", NOW)
    assert lists_stored(database) == 1  # Ada's own list went; the one Bo's mail names stays
    assert (await client.get(f"/c/{own[0]}")).status_code == 404
    assert (await client.get(f"/c/{shared[0]}")).status_code == 404
    assert (await client.get(f"/c/{bos[0]}")).status_code == 302


def test_a_list_names_its_customer_only_while_one_customers_mail_carries_it(
    database: Database,
) -> None:
    ids = ada_and_bo(database)
    ada, bo = ids["ada@example.com"], ids["bo@example.com"]

    def customer_of(digest: str) -> int | None:
        with database.session() as session:
            ll = link_list_table.c
            found: int | None = session.execute(
                select(ll.customer_id).where(ll.digest == digest)
            ).scalar_one()
            return found

    def carried(lists: dict[str, set[int | None]]) -> None:
        with database.transaction() as session:
            store_link_lists(
                session, {d: CarriedList(("https://x.example/",), c) for d, c in lists.items()}, NOW
            )

    carried({"sharedInOne1": {ada, bo}, "onlyAda00001": {ada}, "laterBo00001": {ada}})
    carried({"onlyAda00001": {ada}, "laterBo00001": {bo}, "stranger0001": {None}})
    carried({"laterBo00001": {ada}})
    assert customer_of("sharedInOne1") is None
    assert customer_of("onlyAda00001") == ada
    assert customer_of("laterBo00001") is None  # stays shared
    assert customer_of("stranger0001") is None
