"""Preview and template editor as a marketer uses them in Chromium: a step for two customers
(switched without reloading the page), a typo shown at its line, fixed, saved, and the change
in the preview. Screenshots go to the test's folder (and to docs/ with
MAILENGINE_UPDATE_DOCS=1); axe-core finds nothing serious."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailengine.config import Settings
from mailengine.store.database import Database
from tests.studio.conftest import check_accessibility, keep_for_docs, violations_report
from tests.web.conftest import add_customers

TYPED = " See you soon, {{ custmer.first_name | default('friend') }}!"
TAIL = ".first_name | default('friend') }}!"  # what follows the typo
TYPO_AFTER = "shop=sender.name) }}"  # a line of templates/welcome/hello.mjml


async def _no_serious_violations(page: Any) -> None:
    found = await check_accessibility(page)
    assert found == [], violations_report(found)


async def _mail_shows(page: Any, text: str) -> None:
    """Wait until the desktop frame shows `text` (frames load after the page)."""
    frame = page.frame_locator(".pane-desktop iframe")
    await frame.get_by_text(text, exact=False).first.wait_for()


async def _full_screenshot(page: Any, path: Path) -> None:
    """The whole page, from its top: Chromium leaves the part of a frame that was scrolled
    out of view unpainted in a full-page screenshot."""
    await page.evaluate("window.scrollTo(0, 0)")
    await page.wait_for_timeout(200)
    await page.screenshot(path=str(path), full_page=True)


@pytest.mark.slow
async def test_preview_two_customers_then_edit_fix_and_save(
    studio_page: Any,
    studio_base_url: str,
    studio_settings: Settings,
    sqlite_database: Database,
    tmp_path: Path,
) -> None:
    page = studio_page
    ids = add_customers(
        sqlite_database, [("anna@example.com", "granted"), ("bob@example.com", "withdrawn")]
    )
    await page.set_viewport_size({"width": 1440, "height": 1000})
    await page.goto(
        f"{studio_base_url}/studio/preview/welcome?step=1&customer={ids['anna@example.com']}"
    )
    assert await page.locator(".inbox-subject").inner_text() == "Welcome to Example Shop, Anna"
    await _mail_shows(page, "Welcome, Anna!")
    await page.evaluate("window.stillTheSamePage = true")

    await page.fill("#customer-q", "bob")
    await page.click("form[role=search] button")
    await page.click(".matches a")
    await page.wait_for_function(
        "document.querySelector('.inbox-subject').textContent.includes('Bob')"
    )
    assert await page.evaluate("window.stillTheSamePage") is True
    assert page.url.endswith(f"customer={ids['bob@example.com']}")
    assert "no marketing consent" in await page.locator(".alert-warn").inner_text()
    await _mail_shows(page, "Welcome, Bob!")
    await page.click("label[for=view-mobile]")
    assert await page.locator(".pane-mobile iframe").is_visible()
    await page.click("label[for=view-desktop]")
    await page.click(".step-tabs a >> nth=1")
    await page.wait_for_function(
        "document.querySelector('.inbox-subject').textContent.includes('favourites')"
    )
    assert await page.evaluate("window.stillTheSamePage") is True
    await page.click(".step-tabs a >> nth=0")
    await page.wait_for_function(
        "document.querySelector('.inbox-subject').textContent.includes('Welcome')"
    )
    await page.click(".links summary")
    await _mail_shows(page, "Welcome, Bob!")
    await _no_serious_violations(page)
    await _full_screenshot(page, tmp_path / "studio-preview.png")

    source = studio_settings.paths.templates / "welcome" / "hello.mjml"
    lines = source.read_text(encoding="utf-8").splitlines()
    typo_line = next(n for n, text in enumerate(lines, 1) if TYPO_AFTER in text)
    await page.goto(f"{studio_base_url}/studio/templates/welcome/hello")
    await page.select_option("#sample", "3")
    await page.fill("#customer_email", "anna@example.com")
    await page.locator(".cm-line", has_text=TYPO_AFTER).click()
    await page.keyboard.press("End")
    await page.keyboard.type(TYPED)
    problem = page.locator(".problems li", has_text="custmer is not defined")
    await problem.wait_for()
    marked = page.locator(".cm-line:has(.cm-lintRange-error)")
    assert await marked.count() == 1
    assert TYPED.strip() in await marked.inner_text()
    assert (await problem.locator(".where").inner_text()).startswith(
        f"templates/welcome/hello.mjml:{typo_line}:"
    )
    assert "problem" in await page.locator("#editor-status").inner_text()
    await _full_screenshot(page, tmp_path / "studio-editor-typo.png")

    for _ in range(len(TAIL) + len("mer")):
        await page.keyboard.press("ArrowLeft")
    await page.keyboard.type("o")
    await page.wait_for_function("document.querySelectorAll('.cm-lintRange-error').length === 0")
    await page.wait_for_function(
        "document.getElementById('editor-status').textContent.startsWith('No problems')"
    )
    await page.locator("#save").click()
    saved = page.locator("#save-message .alert-ok")
    await saved.wait_for()
    assert "Saved templates/welcome/hello.mjml" in await saved.inner_text()
    assert "mailengine reload" in await saved.inner_text()
    assert TYPED.replace("custmer", "customer") in source.read_text(encoding="utf-8")
    await _mail_shows(page, "See you soon, Anna!")
    await _no_serious_violations(page)
    await page.frame_locator(".pane-desktop iframe").get_by_text("Welcome, Anna!").wait_for()
    await _full_screenshot(page, tmp_path / "studio-editor.png")

    await page.goto(
        f"{studio_base_url}/studio/preview/welcome?step=1&customer={ids['anna@example.com']}"
    )
    await _mail_shows(page, "See you soon, Anna!")
    for name in ("studio-preview.png", "studio-editor.png"):
        assert (tmp_path / name).stat().st_size > 20_000
        keep_for_docs(tmp_path / name)
