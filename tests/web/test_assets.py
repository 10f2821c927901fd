"""Images of the templates are served from templates/assets under content-hashed names."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from mailengine.config import Settings
from mailengine.errors import RenderError
from mailengine.render import TemplateLibrary
from mailengine.render.assets import AssetCatalog
from mailengine.store.database import Database
from mailengine.web.app import create_app
from tests.web.conftest import SECRET

LOGO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def fetch(settings: Settings, database: Database, path: str) -> httpx.Response:
    app = create_app(settings, database, secret=SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get(path)


async def test_assets_are_served_from_the_templates_folder(
    settings: Settings, sqlite_database: Database
) -> None:
    assets = settings.paths.templates / "assets"
    assets.mkdir(parents=True)
    (assets / "logo.png").write_bytes(LOGO)
    (settings.paths.templates / "secret.mjml").write_text("<mjml/>")
    found = await fetch(settings, sqlite_database, "/assets/logo.png")
    assert found.status_code == 200
    assert found.content == LOGO and found.headers["content-type"] == "image/png"
    outside = await fetch(settings, sqlite_database, "/assets/../secret.mjml")
    assert outside.status_code == 404
    assert (await fetch(settings, sqlite_database, "/assets/%2e%2e/secret.mjml")).status_code == 404


async def test_without_an_assets_folder_there_is_nothing_to_serve(
    settings: Settings, sqlite_database: Database
) -> None:
    assert not (settings.paths.templates / "assets").exists()
    response = await fetch(settings, sqlite_database, "/assets/logo.png")
    assert response.status_code == 404


async def test_hashed_names_are_cached_for_a_year_plain_names_for_a_day(
    settings: Settings, sqlite_database: Database
) -> None:
    assets = settings.paths.templates / "assets"
    (assets / "shop").mkdir(parents=True)
    (assets / "shop" / "logo.png").write_bytes(LOGO)
    (assets / "LICENSE").write_text("MIT")
    hashed = AssetCatalog(assets).hashed_name("shop/logo.png")
    assert hashed == f"shop/logo.{hashlib.sha256(LOGO).hexdigest()[:10]}.png"
    found = await fetch(settings, sqlite_database, f"/assets/{hashed}")
    assert found.status_code == 200 and found.content == LOGO
    assert found.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await fetch(settings, sqlite_database, "/assets/shop/logo.png")
    assert plain.headers["cache-control"] == "public, max-age=86400"
    other_hash = hashed.replace(hashed.split(".")[1], "0123456789")
    assert (await fetch(settings, sqlite_database, f"/assets/{other_hash}")).status_code == 404
    assert (await fetch(settings, sqlite_database, "/assets/LICENSE")).status_code == 404


def test_an_unknown_image_names_the_folder_and_what_it_has(settings: Settings) -> None:
    assets = settings.paths.templates / "assets"
    assets.mkdir(parents=True)
    (assets / "logo.png").write_bytes(LOGO)
    library = TemplateLibrary(settings.paths.templates)
    (settings.paths.templates / "a.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column>"
        "<mj-image src=\"{{ 'lgo.png' | asset_url }}\" />"
        "<mj-image src=\"{{ 'https://cdn.example/x.png' | asset_url }}\" />"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    context = {"links": {"assets_url": "https://mail.example/assets"}}
    with pytest.raises(
        RenderError, match=r"no image 'lgo.png' in templates/assets/ \(it has logo.png\)"
    ):
        library.render("a", context, subject="s")
    (settings.paths.templates / "a.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column>"
        "<mj-image src=\"{{ 'https://cdn.example/x.png' | asset_url }}\" />"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    html = TemplateLibrary(settings.paths.templates).render("a", context, subject="s").html
    # A picture hosted elsewhere stays as it is; the image without alt gets alt="".
    assert '<img alt="" height="auto"\nsrc="https://cdn.example/x.png"' in html


def test_check_names_an_image_the_folder_lacks_at_its_place(settings: Settings) -> None:
    templates = settings.paths.templates
    (templates / "assets").mkdir(parents=True)
    (templates / "assets" / "logo.png").write_bytes(LOGO)
    (templates / "partials").mkdir()
    (templates / "partials" / "top.mjml").write_text(
        "<mj-section><mj-column>\n"
        '  <mj-image src="{{ \'logo.png\' | asset_url }}" alt="" />\n'
        '  <mj-image src="{{ \'banner.png\' | asset_url }}" alt="" />\n'
        "</mj-column></mj-section>\n"
    )
    (templates / "a.mjml").write_text(
        '<mjml><mj-body><mj-include path="partials/top.mjml" /></mj-body></mjml>'
    )
    problems = TemplateLibrary(templates).check("a")
    assert [(p.path, p.line, p.column) for p in problems] == [
        ("templates/partials/top.mjml", 3, 22)
    ]
    assert "no image 'banner.png' in templates/assets/" in problems[0].message
