"""The studio as a person sees it in Chromium: log in, read the overview, log out; axe-core
finds nothing serious on either page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailengine.config import Settings
from mailengine.store.database import Database
from tests.studio.conftest import ADMIN, check_accessibility, violations_report
from tests.web.conftest import add_customers, plan_marketing
from tests.workflows.conftest import SHIPPED

SCREENSHOT = "studio-overview.png"


@pytest.mark.slow
async def test_the_overview_in_chromium_reads_well_and_passes_axe(
    studio_page: Any, studio_settings: Settings, sqlite_database: Database, tmp_path: Path
) -> None:
    page = studio_page
    people = add_customers(sqlite_database, [(f"c{n}@example.com", "granted") for n in range(4)])
    plan_marketing(sqlite_database, people)
    folder = studio_settings.paths.workflows
    (folder / "spring-sale.yaml").write_text(
        "name: spring-sale\ntrigger: {event: spring.started}\nsteps:\n"
        '  - send: spring/sale\n    subject: "Spring is here"\n',
        encoding="utf-8",
    )
    await page.reload()

    assert await page.title() == "Overview · mailengine studio"
    assert await page.locator("h1").inner_text() == "Overview"
    assert await page.locator("nav[aria-label=Studio] a").all_inner_texts() == [
        "Overview",
        "Workflows",
        "Broadcasts",
        "Preview",
        "Templates",
        "Audiences",
        "Customers",
        "Simulation",
        "Reports",
        "Predictions",
        "Polls",
        "Tickets",
        "Accounts",
    ]
    assert await page.locator("nav a[aria-current=page]").inner_text() == "Overview"
    assert ADMIN in await page.locator(".account").inner_text()
    states = await page.locator("td .badge").all_inner_texts()
    assert states.count("Valid") == len(SHIPPED) and "1 problem" in states
    problem = await page.locator(".problems li").first.inner_text()
    assert problem.startswith("workflows/spring-sale.yaml:4:")
    assert "template 'spring/sale' not found" in problem
    queued = page.locator(".stat", has_text="Queued").locator(".stat-value")
    assert await queued.inner_text() == "4"
    await page.screenshot(path=str(tmp_path / SCREENSHOT), full_page=True)
    overview_violations = await check_accessibility(page)

    await page.keyboard.press("Tab")  # the first stop skips to the content
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"

    await page.click("button:has-text('Log out')")
    await page.wait_for_url("**/studio/login?out=1")
    assert "You have logged out." in await page.locator("[role=status]").inner_text()
    await page.fill("#email", ADMIN)
    await page.fill("#password", "not the password")
    await page.click("button[type=submit]")
    error = await page.locator("[role=alert]").inner_text()
    assert error.startswith("The e-mail address and password do not match an account.")
    await page.screenshot(path=str(tmp_path / "studio-login.png"), full_page=True)
    login_violations = await check_accessibility(page)

    assert overview_violations == [], violations_report(overview_violations)
    assert login_violations == [], violations_report(login_violations)
    assert (tmp_path / SCREENSHOT).stat().st_size > 10_000
