"""The studio as `mailengine run` serves it, with people logged in: fixtures for every studio
page's tests.

- `studio_settings`: a shop folder (the shipped workflows, templates and broadcasts copied,
  var/) whose public URL is https, so cookies are Secure as in production.
- `studio_app`: the HTTP app built by `build_web_app`, as `mailengine run` builds it (the
  studio is on because the fixture makes an account first: `ADMIN`).
- `studio_client`: httpx over the app (ASGI), nobody logged in; `admin_client`,
  `marketer_client`, `support_client`: the same, logged in with that role; `log_in_as(email,
  role)` for more.
- `log_in(client, email, password)`, `form_token(html)`, `csrf_token(html)`: helpers.
- `studio_base_url`: the app served by real uvicorn on 127.0.0.1; `studio_page`: a Chromium
  page (Playwright) logged in as `ADMIN` there (`chromium_page(url, email, path)` for
  another account); `check_accessibility(page)` runs axe-core.

- `shop` (from tests/cli): a shop folder and its config, to run `mailengine` itself.

Passwords: every test here hashes with Argon2id at the lowest cost (`quick_password_hashing`,
automatic); a test that asks for `production_password_hashing` gets the shipped RFC 9106
parameters. At those, each account made and each log-in cost ~0.1-0.2 s (far more on a busy
machine): half the time of these tests, for nothing they check.

Times: the app reads the system clock; tests that move time use time-machine
(`frozen_time`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from argon2 import PasswordHasher
from fastapi import FastAPI

from mailengine.cli.web_app import build_web_app
from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.studio import passwords
from mailengine.studio.accounts import create_account
from tests.cli.conftest import shop  # noqa: F401  (`mailengine` over a shop folder)
from tests.conftest import NOW
from tests.web.conftest import serving

REPO = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://studio.shop.example"
CLIENT = ("203.0.113.7", 51000)
PASSWORD = "correct horse battery staple"
ADMIN = "ada@shop.example"
MARKETER = "max@shop.example"
SUPPORT = "sam@shop.example"
CHROMIUM = shutil.which("chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PRODUCTION_HASHER = passwords._hasher
_QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _use_hasher(monkeypatch: pytest.MonkeyPatch, hasher: PasswordHasher) -> None:
    monkeypatch.setattr(passwords, "_hasher", hasher)
    # The stand-in hash for unknown addresses is made once; make it again with this hasher.
    passwords._stand_in_hash.cache_clear()


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2id still, at its lowest cost: the same hashing, verifying and rehashing code."""
    _use_hasher(monkeypatch, _QUICK_HASHER)
    yield
    passwords._stand_in_hash.cache_clear()


@pytest.fixture
def production_password_hashing(
    quick_password_hashing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parameters mailengine ships with, for a test that checks them."""
    _use_hasher(monkeypatch, _PRODUCTION_HASHER)


@pytest.fixture
def studio_settings(tmp_path: Path) -> Settings:
    shutil.copytree(REPO / "workflows", tmp_path / "workflows")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "broadcasts", tmp_path / "broadcasts")
    settings = Settings()
    return settings.model_copy(
        update={
            "http": settings.http.model_copy(update={"public_url": PUBLIC_URL}),
            "paths": settings.paths.model_copy(
                update={
                    "workflows": tmp_path / "workflows",
                    "templates": tmp_path / "templates",
                    "broadcasts": tmp_path / "broadcasts",
                    "polls": REPO / "polls",
                    "questionnaires": REPO / "questionnaires",
                    "var": tmp_path / "var",
                }
            ),
        }
    )


def add_user(database: Database, email: str, role: str, password: str = PASSWORD) -> None:
    create_account(database, email, role, password, NOW)


@pytest.fixture
def frozen_time() -> Iterator[time_machine.Traveller]:
    """The system clock stopped at NOW; `.shift(timedelta)` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def studio_app(studio_settings: Settings, database: Database) -> FastAPI:
    add_user(database, ADMIN, "admin")
    web = build_web_app(studio_settings, database, SystemClock())
    assert web.studio_on
    return web.app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT)
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)


@pytest.fixture
async def studio_client(studio_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(studio_app) as client:
        yield client


def form_token(html: str) -> str:
    found = _FORM_TOKEN.search(html)
    assert found, "no login form token on the page"
    return found.group(1)


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next: str = "/studio/"
) -> httpx.Response:
    """Open the login page and post its form, as a browser does (redirects not followed)."""
    page = await client.get("/studio/login")
    assert page.status_code == 200, page.text
    form = {"email": email, "password": password, "form_token": form_token(page.text)}
    return await client.post("/studio/login", data={**form, "next": next})


LogInAs = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def log_in_as(studio_app: FastAPI, database: Database) -> AsyncIterator[LogInAs]:
    """`await log_in_as(email, role)`: a client logged in to an account made for it
    (`ADMIN`'s exists already); closed after the test."""
    async with AsyncExitStack() as clients:

        async def logged_in(email: str, role: str) -> httpx.AsyncClient:
            if email != ADMIN:
                add_user(database, email, role)
            client = await clients.enter_async_context(client_of(studio_app))
            answer = await log_in(client, email)
            assert answer.status_code == 303, answer.text
            return client

        yield logged_in


@pytest.fixture
async def admin_client(log_in_as: LogInAs) -> httpx.AsyncClient:
    return await log_in_as(ADMIN, "admin")


@pytest.fixture
async def marketer_client(log_in_as: LogInAs) -> httpx.AsyncClient:
    return await log_in_as(MARKETER, "marketer")


@pytest.fixture
async def support_client(log_in_as: LogInAs) -> httpx.AsyncClient:
    return await log_in_as(SUPPORT, "support")


@pytest.fixture
async def studio_base_url(
    studio_settings: Settings, sqlite_database: Database
) -> AsyncIterator[str]:
    """The app as `mailengine run` builds it, served by uvicorn on 127.0.0.1 (a free port);
    `ADMIN` has an account. The public URL is plain http here: a browser keeps no Secure
    cookie from an http page."""
    settings = studio_settings.model_copy(
        update={"http": studio_settings.http.model_copy(update={"public_url": "http://127.0.0.1"})}
    )
    add_user(sqlite_database, ADMIN, "admin")
    async with serving(build_web_app(settings, sqlite_database, SystemClock()).app) as url:
        yield url


@pytest.fixture
async def studio_page(studio_base_url: str) -> AsyncIterator[Any]:
    """A Chromium page logged in as `ADMIN`, on the overview (skipped without Chromium)."""
    async with chromium_page(studio_base_url, ADMIN, "/studio/") as page:
        yield page


@asynccontextmanager
async def chromium_page(
    base_url: str, email: str, path: str, width: int = 1280, height: int = 860
) -> AsyncIterator[Any]:
    """A Chromium page logged in as `email` (password `PASSWORD`), on `path`; the test is
    skipped without Chromium."""
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install chromium to run the browser tests")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            # The studio's CSP allows no inline script: axe-core is injected past it.
            context = await browser.new_context(
                viewport={"width": width, "height": height}, bypass_csp=True
            )
            page = await context.new_page()
            await page.goto(f"{base_url}{path}")
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base_url}{path}")
            yield page
        finally:
            await browser.close()


async def check_accessibility(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (WCAG 2 A and AA rules)."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """async () => {
            const found = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]}
            });
            return JSON.stringify(found.violations);
        }"""
    )
    violations: list[dict[str, Any]] = json.loads(result)
    return [item for item in violations if item.get("impact") in ("serious", "critical")]


DOCS = Path(__file__).resolve().parents[2] / "docs"


def keep_for_docs(screenshot: Path) -> None:
    """Copy a screenshot into docs/ for the README, only with MAILENGINE_UPDATE_DOCS=1: a test
    run leaves the working tree as it found it."""
    if os.environ.get("MAILENGINE_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(screenshot, DOCS / screenshot.name)


def violations_report(violations: list[dict[str, Any]]) -> str:
    """axe-core's findings, short enough to read in a failed assertion."""
    return json.dumps(
        [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
            for v in violations
        ],
        indent=1,
    )
