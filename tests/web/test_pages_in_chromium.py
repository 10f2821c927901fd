"""The preferences and unsubscribe pages as a browser shows them, with the shipped workflows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI

from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.web.app import create_app, topics_from_workflows
from mailengine.workflows.loader import load_workflows
from tests.web.conftest import SECRET, add_customers, token

CHROMIUM = shutil.which("chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
ADA = "ada@example.com"


@pytest.fixture
def served_app(sqlite_database: Database, settings: Settings, clock: FrozenClock) -> FastAPI:
    """The app as `mailengine run` builds it: topics from the shipped workflows."""
    topics = topics_from_workflows(load_workflows([REPO / "workflows"]).workflows.values())
    return create_app(settings, sqlite_database, clock=clock, secret=SECRET, topics=topics)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium to run this")
async def test_the_preferences_page_reads_well_in_chromium(
    base_url: str, sqlite_database: Database
) -> None:
    from playwright.async_api import async_playwright

    add_customers(sqlite_database, [(ADA, "granted")])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 720, "height": 1100})
            await page.goto(f"{base_url}/preferences/{token('preferences', ADA)}")
            labels = await page.locator("fieldset label").all_inner_texts()
            still = await page.locator("li").all_inner_texts()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "preferences.png"), full_page=True)
            await page.uncheck("input[value=win-back]")
            await page.click("button[value=save]")
            saved = await page.locator("main").inner_text()
            kept = await page.locator("input[name=topic]:checked").count()
            await page.goto(f"{base_url}/u/{token('unsubscribe', ADA)}")
            await page.screenshot(path=str(SCREENSHOTS / "unsubscribe.png"), full_page=True)
        finally:
            await browser.close()
    assert [label.splitlines()[0].strip() for label in labels] == [
        "Birthday greeting",
        "Come back soon",
        "Review invitations",
        "Restock reminders",
        "VIP circle",
        "Welcome mails",
        "We miss you",
    ]
    assert "early access to new collections" in labels[4]
    assert [item.split(":")[0] for item in still] == [
        "Order confirmations",
        "Answers to your questions",
    ]
    assert "Saved." in saved and kept == 6
