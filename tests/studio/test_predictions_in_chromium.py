"""The Predictions page as a person sees it in Chromium, on the demo shop after a prediction
run: the churn risk chart, a back-test run from the form and its calibration chart, at desktop
and phone widths. Screenshots go to the test's tmp dir (and with MAILENGINE_UPDATE_DOCS=1 to
docs/); axe-core finds nothing serious or critical."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailengine.dev import demo
from mailengine.engine.prediction_job import run_predictions
from mailengine.store.database import Database
from tests.conftest import NOW
from tests.studio.conftest import check_accessibility, keep_for_docs, violations_report


async def _shoot(page: Any, path: Path, docs: bool = False) -> None:
    picture = await page.screenshot(path=str(path), full_page=True)
    assert len(picture) > 20_000
    if docs:
        keep_for_docs(path)


@pytest.mark.slow
async def test_predictions_in_chromium(
    frozen_time: time_machine.Traveller,
    studio_page: Any,
    studio_base_url: str,
    sqlite_database: Database,
    tmp_path: Path,
) -> None:
    demo.load(sqlite_database, 600, seed=7, now=NOW)
    run_predictions(sqlite_database, ZoneInfo("Europe/Berlin"), NOW)
    page = studio_page
    await page.click("nav >> text=Predictions")
    await page.wait_for_url("**/studio/predictions")
    assert await page.locator("h1").inner_text() == "Predictions"
    assert await page.locator("nav a[aria-current=page]").inner_text() == "Predictions"
    churn_bars = page.locator("figure", has_text="Customers by churn risk").locator("rect[fill]")
    assert await churn_bars.count() >= 10
    assert "No back-test yet" in await page.locator("#backtest").inner_text()

    await page.fill("#until", "2026-05-01")
    await page.click("button:has-text('Run the back-test')")
    await page.wait_for_url("**/studio/predictions#backtest")
    calibration = page.locator("figure", has_text="by repeat orders before it")
    series = await calibration.locator("g.series").evaluate_all(
        "groups => groups.map(g => [g.dataset.series, g.querySelectorAll('rect').length])"
    )
    assert series == [["Actual", 8], ["Predicted", 8]]
    assert await calibration.locator("tbody th").all_text_contents() == [*map(str, range(7)), "7+"]
    await _shoot(page, tmp_path / "studio-predictions.png", docs=True)
    problems = await check_accessibility(page)

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    await _shoot(page, tmp_path / "studio-predictions-phone.png")
    assert problems == [], violations_report(problems)
