"""Every image of every shipped template, rendered as customers get it, is served by the HTTP
app at its content-hashed URL under http.public_url, with a year of caching."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mailengine.config import Settings
from mailengine.render import TemplateLibrary
from mailengine.render.sample_data import sample_contexts
from mailengine.store.database import Database
from mailengine.web.app import create_app
from mailengine.web.assets import IMMUTABLE
from tests.conftest import NOW
from tests.render.conftest import with_polls
from tests.render.test_render_shipped_templates import SHIPPED
from tests.web.conftest import PUBLIC_URL, SECRET

REPO = Path(__file__).resolve().parents[2]
IMG = re.compile(r"<img\b[^>]*>")
SRC = re.compile(r'\ssrc="([^"]*)"')
HASHED = re.compile(
    rf"^{re.escape(PUBLIC_URL)}/assets/(?:[a-z0-9-]+/)*[a-z0-9-]+\.[0-9a-f]{{10}}\.png$"
)
SHOP_ITEM_IMAGE = "https://cdn.fjord-field.example/p/"  # order items' own, from the shop's data
COLUMN_28 = 'mj-column-per-28"'  # in a class attribute, not in the style sheet
TYPES = {".png": "image/png", ".jpg": "image/jpeg"}


def newsletter_content() -> dict[str, Any]:
    source = (REPO / "broadcasts/december-newsletter.yaml").read_text(encoding="utf-8")
    content: dict[str, Any] = yaml.safe_load(source)["content"]
    return content


def contexts(count: int) -> list[dict[str, Any]]:
    """Sample customers as the composer links them: images under http.public_url."""
    found = []
    for context in map(with_polls, sample_contexts(count, seed=5, now=NOW)):
        links = {**context["links"], "assets_url": f"{PUBLIC_URL}/assets"}
        broadcast = {
            "name": "december-newsletter",
            "variant": "all",
            "content": newsletter_content(),
        }
        found.append({**context, "links": links, "broadcast": broadcast})
    return found


@pytest.fixture
def shipped_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"templates": REPO / "templates"})}
    )


def images(html: str) -> list[str]:
    return IMG.findall(html)


async def test_every_image_of_every_shipped_template_is_served_hashed_and_cached(
    shipped_settings: Settings, sqlite_database: Database
) -> None:
    library = TemplateLibrary(REPO / "templates")
    urls: dict[str, set[str]] = {}
    for name in SHIPPED:
        for context in contexts(12):
            html = library.render(name, context, subject="Hi", preheader="Hello").html
            for tag in images(html):
                assert re.search(r'\salt="', tag), (name, tag)
                src = SRC.search(tag)
                assert src is not None, (name, tag)
                if not src.group(1).startswith(SHOP_ITEM_IMAGE):
                    urls.setdefault(src.group(1), set()).add(name)
    assert all(HASHED.match(url) for url in urls), sorted(urls)
    app = create_app(shipped_settings, sqlite_database, secret=SECRET)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            plain = re.sub(r"\.[0-9a-f]{10}(\.[a-z]+)$", r"\1", url.removeprefix(PUBLIC_URL))
            assert response.content == (REPO / "templates" / plain.lstrip("/")).read_bytes()
            assert response.headers["content-type"] == TYPES[Path(plain).suffix], url
            assert response.headers["cache-control"] == IMMUTABLE, url
    shown = {url.rsplit("/", 1)[1].split(".")[0] for url in urls}
    favourites = {"oxford-shirt", "selvedge-jeans", "merino-sweater", "leather-boots"}
    assert favourites | {"logo", "balloons"} <= shown
    favourites_mail = library.render("welcome/our-favourites", contexts(1)[0], subject="Hi")
    assert sum(name in favourites_mail.html for name in favourites) == 4


def order_images(html: str) -> list[str]:
    return [tag for tag in images(html) if SHOP_ITEM_IMAGE in tag]


@pytest.mark.parametrize(
    "name", ["thank-you/order-confirmed", "thank-you/how-is-it", "replenish/time-to-restock"]
)
def test_order_lines_show_item_images_and_no_empty_column_without_them(name: str) -> None:
    library = TemplateLibrary(REPO / "templates")
    context = next(c for c in contexts(40) if c.get("order") and c.get("last_order"))
    for key in ("order", "last_order"):
        for item in context[key]["items"]:
            item.pop("image_url", None)
    without = library.render(name, context, subject="Hi").html
    assert order_images(without) == []
    # The image column (28 %) is not laid out at all, and the text takes the whole width.
    assert COLUMN_28 not in without and 'mj-column-per-72"' not in without
    for key in ("order", "last_order"):
        for item in context[key]["items"]:
            item["image_url"] = f"{SHOP_ITEM_IMAGE}{item['sku']}.jpg"
    with_images = library.render(name, context, subject="Hi").html
    items = context["order" if name != "replenish/time-to-restock" else "last_order"]["items"]
    shown = items[:3] if name == "replenish/time-to-restock" else items
    assert len(order_images(with_images)) == len(shown)
    assert with_images.count(COLUMN_28) == len(shown)
