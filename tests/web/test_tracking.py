"""Tracked links and the open pixel: rewriting a rendered body, then following it over HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from mailengine.outbound.tracking_links import rewrite_links
from mailengine.store.api_queries import store_tracked_links, tracking_event_table
from mailengine.store.database import Database
from mailengine.web.tracking import PIXEL
from tests.web.conftest import PUBLIC_URL, SECRET, add_customers, plan_marketing

BODY = """<!DOCTYPE html><html><body>
<a href="https://shop.example/c/shirts?size=M&amp;utm_source=mail" class="button">Shirts</a>
<a class='x' href='https://shop.example/sale'>Sale</a>
<a href="https://shop.example/c/shirts?size=M&amp;utm_source=mail">Shirts again</a>
<a href="mailto:hello@shop.example">Write</a> <a href="#top">Top</a> <a href="tel:+4930">Call</a>
<a href="https://mail.shop.example/u/abc.def">Unsubscribe</a>
<img src="https://mail.shop.example/assets/logo.png" alt="Logo">
</body></html>"""


def test_rewrite_tracks_web_links_only_and_adds_one_pixel() -> None:
    tracked = rewrite_links(BODY, 42, PUBLIC_URL, SECRET)
    targets = [(row.position, row.url) for row in tracked.rows]
    assert targets == [
        (1, "https://shop.example/c/shirts?size=M&utm_source=mail"),
        (2, "https://shop.example/sale"),
        (3, "https://shop.example/c/shirts?size=M&utm_source=mail"),
        (0, None),
    ]
    assert all(row.outbox_id == 42 and len(row.key) == 16 for row in tracked.rows)
    assert len({row.key for row in tracked.rows}) == 4
    for row in tracked.rows[:3]:
        assert f'href="{PUBLIC_URL}/c/{row.key}"' in tracked.html
    assert "shop.example/sale" not in tracked.html and "utm_source" not in tracked.html
    for untouched in ("mailto:hello@shop.example", "#top", "tel:+4930", f"{PUBLIC_URL}/u/abc.def"):
        assert f'href="{untouched}"' in tracked.html
    pixel = f'<img src="{PUBLIC_URL}/o/{tracked.rows[-1].key}.gif" width="1" height="1" alt=""'
    assert pixel in tracked.html
    assert tracked.html.index(pixel) < tracked.html.index("</body>")
    assert 'class="button"' in tracked.html


def test_rewriting_again_gives_the_same_keys_and_other_messages_other_keys() -> None:
    first = rewrite_links(BODY, 42, PUBLIC_URL, SECRET)
    assert rewrite_links(BODY, 42, PUBLIC_URL, SECRET) == first
    other = rewrite_links(BODY, 43, PUBLIC_URL, SECRET)
    assert not {r.key for r in first.rows} & {r.key for r in other.rows}
    assert rewrite_links(BODY, 42, PUBLIC_URL, b"another-secret-key-here").rows != first.rows


def test_tracking_turned_off_leaves_the_body_alone() -> None:
    tracked = rewrite_links(BODY, 42, PUBLIC_URL, SECRET, enabled=False)
    assert tracked.html == BODY and tracked.rows == ()


def kinds(database: Database) -> list[tuple[int, str, int | None]]:
    e = tracking_event_table.c
    with database.session() as session:
        rows = session.execute(select(e.outbox_id, e.kind, e.link_id).order_by(e.id))
        return [(outbox_id, kind, link_id) for outbox_id, kind, link_id in rows]


async def test_pixel_and_clicks_are_recorded_and_redirect_to_the_stored_url(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [("ada@example.com", "granted")])
    outbox_id = plan_marketing(database, ids)["ada@example.com"]
    tracked = rewrite_links(BODY, outbox_id, PUBLIC_URL, SECRET)
    with database.transaction() as session:
        assert store_tracked_links(session, tracked.rows) == 4
    with database.transaction() as session:
        assert store_tracked_links(session, tracked.rows) == 0  # a re-render stores nothing new
    first, pixel = tracked.rows[0], tracked.rows[-1]

    opened = await client.get(f"/o/{pixel.key}.gif")
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "image/gif" and opened.content == PIXEL
    assert "no-store" in opened.headers["cache-control"]

    clicked = await client.get(f"/c/{first.key}?url=https://evil.example/")
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.example/c/shirts?size=M&utm_source=mail"
    assert "set-cookie" not in clicked.headers

    events = kinds(database)
    assert [(o, kind) for o, kind, _ in events] == [(outbox_id, "open"), (outbox_id, "click")]
    assert events[1][2] is not None


async def test_unknown_keys_and_wrong_uses_are_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = add_customers(database, [("ada@example.com", "granted")])
    outbox_id = plan_marketing(database, ids)["ada@example.com"]
    tracked = rewrite_links(BODY, outbox_id, PUBLIC_URL, SECRET)
    with database.transaction() as session:
        store_tracked_links(session, tracked.rows)
    link, pixel = tracked.rows[0], tracked.rows[-1]
    for path in (
        "/c/AAAAAAAAAAAAAAAA",
        f"/c/{pixel.key}",  # the pixel is no link
        f"/o/{link.key}.gif",  # a link is no pixel
        "/o/AAAAAAAAAAAAAAAA.gif",
        "/c/has%20space",
        "/c/" + "k" * 40,
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    assert kinds(database) == []
