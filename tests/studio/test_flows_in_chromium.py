"""The Workflows, Simulation and Reports pages in Chromium on four weeks of the demo shop:
what a marketer sees, screenshots of each, and axe-core finding nothing serious."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from mailengine.config import Settings
from mailengine.store.database import Database
from tests.conftest import NOW
from tests.studio.activity import ShopActivity, load_demo_shop, with_holdout
from tests.studio.conftest import check_accessibility, keep_for_docs, violations_report
from tests.workflows.conftest import SHIPPED

START = NOW - timedelta(days=28)


async def _shot(page: Any, tmp_path: Path, name: str, docs: bool = True) -> list[dict[str, Any]]:
    """Screenshot the page under tmp_path (see `keep_for_docs`), then run axe-core on it."""
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    if docs:
        keep_for_docs(path)
    return await check_accessibility(page)


@pytest.mark.slow
async def test_workflows_simulation_and_reports_read_well_in_chromium(
    frozen_time: time_machine.Traveller,
    studio_settings: Settings,
    sqlite_database: Database,
    studio_base_url: str,
    studio_page: Any,
    tmp_path: Path,
) -> None:
    with_holdout(studio_settings.paths.workflows, "win-back", 25)
    load_demo_shop(sqlite_database, customers=300, seed=1, start=START)
    await ShopActivity(sqlite_database, studio_settings, START).run_until(NOW)
    violations = {
        **await _workflows(studio_page, studio_base_url, tmp_path),
        **await _simulation(studio_page, studio_base_url, tmp_path),
        **await _reports(studio_page, studio_base_url, tmp_path),
    }
    found = {name: found for name, found in violations.items() if found}
    assert found == {}, {name: violations_report(items) for name, items in found.items()}


Violations = dict[str, list[dict[str, Any]]]


async def _workflows(page: Any, base: str, tmp_path: Path) -> Violations:
    await page.goto(f"{base}/studio/workflows")
    assert await page.title() == "Workflows · mailengine studio"
    names = await page.locator("td a.strong-link").all_inner_texts()
    assert names == list(SHIPPED)
    listed = await _shot(page, tmp_path, "studio-workflows.png", docs=False)

    await page.click("a.strong-link:has-text('welcome')")
    await page.wait_for_url(f"{base}/studio/workflows/welcome")
    diagram = page.locator(".flow-diagram svg[role=img]")
    keys = await diagram.locator("g[data-key]").evaluate_all(
        "nodes => nodes.map(node => node.dataset.key)"
    )
    assert keys == ["trigger", "1", "2", "3", "4", "5", "5.then.1", "end"]
    assert await diagram.locator("g[data-label]").count() == 2  # the yes and no lines
    trigger = await diagram.locator("g[data-key=trigger] text.figure").first.text_content() or ""
    assert trigger.startswith("enrolled ") and not trigger.startswith("enrolled 0")
    assert await page.locator(".flow-words li.flow-item").count() == 8
    return {"workflows": listed, "workflow": await _shot(page, tmp_path, "studio-workflow.png")}


async def _simulation(page: Any, base: str, tmp_path: Path) -> Violations:
    await page.goto(f"{base}/studio/simulation?workflow=welcome")
    await page.locator(".suggestions a").first.click()
    await page.wait_for_selector(".timeline svg[role=img]")
    heading = await page.locator("#result-heading").inner_text()
    assert heading.startswith("welcome for ") and heading.endswith(", 30 days")
    steps = await page.locator(".timeline g.mail").evaluate_all(
        "marks => marks.map(mark => mark.dataset.step)"
    )
    assert steps[:2] == ["1", "3"]  # hello, then our favourites three days later
    assert await page.locator("table tbody tr").count() >= len(steps)
    return {"simulation": await _shot(page, tmp_path, "studio-simulation.png")}


async def _reports(page: Any, base: str, tmp_path: Path) -> Violations:
    await page.goto(f"{base}/studio/reports")
    rows = await page.locator("tbody th[scope=row] a").all_inner_texts()
    assert "win-back" in rows and "welcome" in rows
    assert await page.locator(".chart svg[role=img]").count() == 4
    every = await _shot(page, tmp_path, "studio-reports-all.png", docs=False)

    await page.click("tbody th[scope=row] a:has-text('win-back')")
    await page.wait_for_url(f"{base}/studio/reports/win-back?period=30d")
    holdout = page.locator("section:has(#holdout-heading)")
    assert await holdout.locator("table").count() == 1
    assert "% CI" in await holdout.inner_text()
    return {"reports": every, "report": await _shot(page, tmp_path, "studio-reports.png")}
