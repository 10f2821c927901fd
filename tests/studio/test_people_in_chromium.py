"""The Audiences and Customer pages as a person uses them in Chromium, on the demo shop: count
an audience, try an edited expression (with a typo first), find a customer and read their
page. Screenshots go to the test's tmp dir (and with MAILENGINE_UPDATE_DOCS=1 to docs/);
axe-core finds nothing serious or critical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import time_machine

from mailengine.dev import demo
from mailengine.store.database import Database
from tests.conftest import NOW
from tests.studio.conftest import check_accessibility, keep_for_docs, violations_report
from tests.studio.people_shop import add_lived_customer
from tests.workflows.conftest import SHIPPED

EDITED = """all:
  - orders_count: {gte: 1}
  - last_order_at: {before: 90 days ago}
  - city: [Berlin, Hamburg, München]
"""


async def _shoot(page: Any, folder: Path, name: str, docs: bool = False) -> None:
    path = folder / name
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000
    if docs:
        keep_for_docs(path)


@pytest.fixture
async def demo_page(
    frozen_time: time_machine.Traveller, studio_page: Any, sqlite_database: Database
) -> Any:
    """The logged-in Chromium page over 600 demo customers and their orders, clock at NOW."""
    demo.load(sqlite_database, 600, seed=7, now=NOW)
    return studio_page


@pytest.mark.slow
async def test_audiences_in_chromium(demo_page: Any, studio_base_url: str, tmp_path: Path) -> None:
    page = demo_page
    await page.goto(f"{studio_base_url}/studio/audiences")
    assert await page.locator("h1").inner_text() == "Audiences"
    names = await page.locator("table a").all_inner_texts()
    assert names == list(SHIPPED)
    await _shoot(page, tmp_path, "studio-audiences.png")
    problems = await check_accessibility(page)

    await page.click("text='win-back'")  # quoted: exactly, not churn-risk-win-back
    await page.wait_for_url("**/studio/audiences/win-back")
    saved = int(await page.locator(".audience-count-value").first.get_attribute("data-count"))
    assert saved > 20
    assert await page.locator("#saved-sample-heading + .table-wrap tbody tr").count() == 20
    assert "last_order_at <" in await page.locator("details.sql pre").first.inner_text()

    await page.fill("#expression", EDITED.replace("last_order_at", "last_ordr_at"))
    await page.click("button:has-text('Count this audience')")
    problem = page.locator(".listing li.has-problem .line-problem")
    assert (await problem.inner_text()).startswith(
        "expression:3:5 unknown field 'last_ordr_at' in condition (did you mean 'last_order_at'?)"
    )
    await _shoot(page, tmp_path, "studio-audience-typo.png")
    problems += await check_accessibility(page)

    await page.fill("#expression", EDITED)
    await page.click("button:has-text('Count this audience')")
    tried = await page.locator(".tried .audience-count-value").get_attribute("data-count")
    assert 0 < int(tried) < saved
    await page.locator("#expression").scroll_into_view_if_needed()
    await _shoot(page, tmp_path, "studio-audience.png", docs=True)
    problems += await check_accessibility(page)
    assert problems == [], violations_report(problems)


@pytest.mark.slow
async def test_a_customer_in_chromium(
    demo_page: Any, sqlite_database: Database, tmp_path: Path
) -> None:
    page = demo_page
    add_lived_customer(sqlite_database, NOW)
    await page.click("nav >> text=Customers")
    await page.fill("#q", "anna mü")
    await page.click("button:has-text('Search')")
    await page.wait_for_selector("#results-heading")
    rows = page.locator("tbody tr")
    assert await rows.count() >= 2  # Anna Müller, and the demo shop's Annas Müller
    await _shoot(page, tmp_path, "studio-customers.png")
    problems = await check_accessibility(page)

    await page.click("tbody tr:has-text('anna.mueller@example.com') a")
    await page.wait_for_selector("#profile-heading")
    assert await page.locator("h1").inner_text() == "Anna Müller"
    due = page.locator("section[aria-labelledby=workflows-heading] tbody tr", has_text="welcome")
    assert "Thu 26 Nov, 10:00 (in 3 days)" in await due.inner_text()
    mail = page.locator("section[aria-labelledby=mail-heading] tbody tr", has_text="Greylisted")
    assert "deferred" in await mail.inner_text()
    await _shoot(page, tmp_path, "studio-customer.png", docs=True)
    problems += await check_accessibility(page)
    assert problems == [], violations_report(problems)
