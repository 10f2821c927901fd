"""The poll and questionnaire pages as Chromium shows them at desktop (1280 px) and mobile
(375 px) widths: the chosen answer is marked, everything fits the width, Send records.
Screenshots go to var/screenshots/ (poll-*.png, questionnaire-*.png)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from mailengine.store.polls import latest_answers
from tests.polls.nps_mail import PUBLIC_URL, poll_app, send_nps_mail
from tests.web.conftest import serving

CHROMIUM = shutil.which("chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = {"desktop": 1280, "mobile": 375}


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium to run this")
async def test_the_poll_pages_read_well_at_desktop_and_mobile_widths(
    sqlite_database: Database, clock: FrozenClock
) -> None:
    from playwright.async_api import async_playwright

    mail = await send_nps_mail(sqlite_database, clock)
    (questionnaire,) = [link for link in mail.links() if "/questionnaire/" in link]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, dict[str, object]] = {}
    async with serving(poll_app(sqlite_database, clock)) as base_url, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for device, width in WIDTHS.items():
                page = await browser.new_page(viewport={"width": width, "height": 900})
                await page.set_content(mail.html)
                await page.screenshot(
                    path=str(SCREENSHOTS / f"nps-mail-{device}.png"), full_page=True
                )
                mail_wide = await page.evaluate(
                    "document.documentElement.scrollWidth > document.documentElement.clientWidth"
                )
                await page.goto(mail.poll_links()["8"].replace(PUBLIC_URL, base_url))
                checked = await page.locator("input[name=answer]:checked").get_attribute("value")
                boxes = [
                    await label.bounding_box() for label in await page.locator(".scale label").all()
                ]
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth > document.documentElement.clientWidth"
                )
                await page.screenshot(path=str(SCREENSHOTS / f"poll-{device}.png"), full_page=True)
                await page.click(".scale label:has-text('9')")
                await page.fill("textarea[name=comment]", f"Sent from the {device} test.")
                await page.click("button[type=submit]")
                thanks = await page.locator("main").inner_text()
                await page.screenshot(
                    path=str(SCREENSHOTS / f"poll-thanks-{device}.png"), full_page=True
                )
                await page.goto(questionnaire.replace(PUBLIC_URL, base_url))
                await page.screenshot(
                    path=str(SCREENSHOTS / f"questionnaire-{device}.png"), full_page=True
                )
                wide = await page.evaluate(
                    "document.documentElement.scrollWidth > document.documentElement.clientWidth"
                )
                found[device] = {
                    "checked": checked,
                    "rows": {round(box["y"]) for box in boxes if box},
                    "overflow": overflow or wide or mail_wide,
                    "thanks": thanks,
                }
                await page.close()
        finally:
            await browser.close()
    for device, seen in found.items():
        assert seen["checked"] == "8", device
        assert len(seen["rows"]) == 1, f"{device}: the 0-10 scale wraps"  # type: ignore[arg-type]
        assert seen["overflow"] is False, f"{device}: wider than the screen"
        assert "You answered 9" in str(seen["thanks"]), device
    with sqlite_database.session() as session:
        latest = latest_answers(session, mail.customer_id)["delivery_nps"]
    assert (latest.score, latest.comment) == (9, "Sent from the mobile test.")
