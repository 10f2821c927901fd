"""Images of the shipped templates are served from templates/assets when that folder exists."""

from __future__ import annotations

import httpx

from mailengine.config import Settings
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
