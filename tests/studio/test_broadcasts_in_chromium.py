"""The Broadcasts pages in Chromium, at a desktop and a phone's width: the list, one A/B
broadcast with its report, chart and winner, pausing, resuming and cancelling (the browser
asks first), and a support account that only reads. Screenshots of each; axe-core finds
nothing serious."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import time_machine

from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database
from tests.studio import broadcast_shop
from tests.studio.broadcast_shop import NAME
from tests.studio.conftest import (
    ADMIN,
    SUPPORT,
    add_user,
    check_accessibility,
    chromium_page,
    keep_for_docs,
    violations_report,
)

PHONE = (390, 844)


async def _shot(page: Any, tmp_path: Path, name: str, docs: bool = True) -> list[dict[str, Any]]:
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    if docs:
        keep_for_docs(path)
    return await check_accessibility(page)


async def _fits(page: Any) -> bool:
    """Nothing sticks out sideways: wide tables scroll inside their own frame."""
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _state(database: Database) -> str:
    with database.session() as session:
        found = runs.load(session, NAME)
    assert found is not None
    return found.state


@pytest.mark.slow
async def test_broadcasts_read_and_steer_in_chromium(
    frozen_time: time_machine.Traveller,
    sqlite_database: Database,
    studio_base_url: str,
    studio_page: Any,
    tmp_path: Path,
) -> None:
    broadcast_shop.build(sqlite_database)
    page, base = studio_page, studio_base_url
    violations: dict[str, list[dict[str, Any]]] = {}

    await page.click("nav.nav a:has-text('Broadcasts')")
    await page.wait_for_url(f"{base}/studio/broadcasts")
    assert await page.title() == "Broadcasts · mailengine studio"
    names = await page.locator("td a.strong-link").all_inner_texts()
    assert names == ["december-newsletter", NAME, "winter-sale"]
    violations["list"] = await _shot(page, tmp_path, "studio-broadcasts.png")

    await page.click(f"a.strong-link:has-text('{NAME}')")
    await page.wait_for_url(f"{base}/studio/broadcasts/{NAME}")
    assert "B went to the rest." in await page.locator("[role=status]").first.inner_text()
    assert await page.locator(".chart svg[role=img]").count() == 1
    assert await page.locator(".report-table thead th").all_text_contents() == [
        "Figure", "A", "B", "B test", "B rest",
    ]  # fmt: skip
    violations["broadcast"] = await _shot(page, tmp_path, "studio-broadcast.png")

    async with chromium_page(base, ADMIN, "/studio/broadcasts", *PHONE) as phone:
        violations["phone list"] = await _shot(
            phone, tmp_path, "studio-broadcasts-mobile.png", False
        )
        assert await _fits(phone)
        await phone.goto(f"{base}/studio/broadcasts/{NAME}")
        violations["phone"] = await _shot(phone, tmp_path, "studio-broadcast-mobile.png", False)
        assert await _fits(phone)

    await page.click("button:has-text('Pause')")
    await page.wait_for_selector("text=Paused: planning stopped")
    assert _state(sqlite_database) == "paused"
    await page.click("button:has-text('Resume')")
    await page.wait_for_selector("text=Resumed:")
    assert _state(sqlite_database) == "planned"
    questions: list[str] = []

    async def answer(dialog: Any, yes: bool) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if yes else dialog.dismiss())

    page.once("dialog", lambda dialog: answer(dialog, False))
    await page.click("button:has-text('Cancel broadcast')")
    assert questions and questions[0].startswith(f"Cancel {NAME} for good?")
    assert _state(sqlite_database) == "planned"
    page.once("dialog", lambda dialog: answer(dialog, True))
    await page.click("button:has-text('Cancel broadcast')")
    await page.wait_for_selector("text=Cancelled for good:")
    assert _state(sqlite_database) == "cancelled"
    assert await page.locator("button:has-text('Pause')").count() == 0
    violations["cancelled"] = await _shot(page, tmp_path, "studio-broadcast-cancelled.png", False)

    await page.goto(f"{base}/studio/broadcasts/december-newsletter")
    page.once("dialog", lambda dialog: answer(dialog, True))
    await page.click("button:has-text('Schedule')")
    await page.wait_for_selector("text=Scheduled as its file is now")
    assert questions[-1].startswith("Schedule december-newsletter as its file is now?")
    with sqlite_database.session() as session:
        letter = runs.load(session, "december-newsletter")
    assert letter is not None and letter.state == "scheduled"
    assert await page.locator("button:has-text('Schedule')").count() == 0
    violations["scheduled"] = await _shot(page, tmp_path, "studio-broadcast-scheduled.png", False)

    add_user(sqlite_database, SUPPORT, "support")
    async with chromium_page(base, SUPPORT, f"/studio/broadcasts/{NAME}") as reader:
        assert await reader.locator("h1").inner_text() == f"{NAME} cancelled"
        assert await reader.locator("form[action*='/studio/broadcasts/']").count() == 0
    found = {name: items for name, items in violations.items() if items}
    assert found == {}, {name: violations_report(items) for name, items in found.items()}
