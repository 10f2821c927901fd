"""The API docs page: Swagger UI served by the app itself under a CSP, or off by config."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.web.app import create_app
from tests.web.conftest import SECRET

CHROMIUM = shutil.which("chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


async def test_docs_load_every_asset_from_the_app_under_a_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 4
    for asset in assets:
        assert asset.startswith("/static/"), asset
        loaded = await client.get(asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 100
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "mailengine"


async def test_docs_can_be_turned_off(database: Database, settings: Settings) -> None:
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"docs": False})}
    )
    app = create_app(settings, database, secret=SECRET)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/healthz")).status_code in (200, 503)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium to run this")
async def test_docs_render_in_chromium_without_any_outside_request(base_url: str) -> None:
    from playwright.async_api import async_playwright

    requested: list[str] = []
    refused: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: _note_csp(message.text, refused))
            await page.goto(f"{base_url}/docs")
            await page.wait_for_selector(".opblock", timeout=30_000)
            operations = await page.locator(".opblock-summary-path").all_inner_texts()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
        finally:
            await browser.close()
    assert "/v1/orders" in " ".join(operations)
    assert all(url.startswith(base_url) for url in requested), requested
    assert refused == []


def _note_csp(text: str, refused: list[str]) -> None:
    if "Content Security Policy" in text:
        refused.append(text)
