"""The preview and template pages over HTTP, as a browser's requests reach them."""

from __future__ import annotations

import email
import re
from email.policy import default as default_policy

import httpx

from mailengine.config import Settings
from mailengine.store.database import Database
from tests.studio.conftest import csrf_token
from tests.web.conftest import add_customers

FRAME = re.compile(r'src="(/studio/frames/[^"/]+)/mail"')


async def open_editor(client: httpx.AsyncClient) -> dict[str, str]:
    """The editor of welcome/hello opened: its form's token and the versions of its files."""
    page = await client.get("/studio/templates/welcome/hello")
    assert page.status_code == 200
    fields = {"csrf_token": csrf_token(page.text)}
    for name in ("version", "workflow_version"):
        found = re.search(rf'name="{name}" value="([0-9a-f]+)"', page.text)
        assert found, name
        fields[name] = found.group(1)
    return fields


def people(database: Database) -> dict[str, int]:
    return add_customers(
        database, [("anna@example.com", "granted"), ("bob@example.com", "withdrawn")]
    )


async def test_a_step_is_previewed_for_a_customer_with_its_frames_and_checks(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    ids = people(database)
    index = await marketer_client.get("/studio/preview")
    assert index.status_code == 200
    assert 'href="/studio/preview/welcome?step=2"' in index.text
    page = await marketer_client.get(
        f"/studio/preview/welcome?step=1&customer={ids['bob@example.com']}"
    )
    assert page.status_code == 200
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert "Welcome to Example Shop, Bob" in page.text
    assert "Not in this workflow's audience now:" in page.text
    assert "no marketing consent" in page.text
    assert "Gmail" in page.text and "tracked" in page.text
    frame = FRAME.search(page.text)
    assert frame is not None
    mail = await marketer_client.get(f"{frame.group(1)}/mail")
    assert mail.status_code == 200
    assert "sandbox" in mail.headers["content-security-policy"]
    assert "script-src" not in mail.headers["content-security-policy"]
    assert "Bob" in mail.text and '<base target="_blank">' in mail.text
    dark = await marketer_client.get(f"{frame.group(1)}/dark")
    assert "invert(1)" in dark.text


async def test_a_fragment_switches_customer_and_a_search_finds_them(
    marketer_client: httpx.AsyncClient, database: Database
) -> None:
    ids = people(database)
    found = await marketer_client.get("/studio/preview/welcome?step=1&q=ANNA&fragment=1")
    assert found.status_code == 200
    assert "<html" not in found.text
    assert (
        f'href="/studio/preview/welcome?step=1&amp;customer={ids["anna@example.com"]}"'
        in found.text
    )
    anna = await marketer_client.get(
        f"/studio/preview/welcome?step=1&customer={ids['anna@example.com']}&fragment=1"
    )
    assert "Welcome to Example Shop, Anna" in anna.text
    assert "audience now" not in anna.text
    sample = await marketer_client.get("/studio/preview/welcome?step=1&sample=5&fragment=1")
    assert "Sample 5:" in sample.text


async def test_the_eml_is_the_message_the_composer_builds(
    marketer_client: httpx.AsyncClient, database: Database, studio_settings: Settings
) -> None:
    ids = people(database)
    answer = await marketer_client.get(
        f"/studio/preview/welcome/eml?step=1&customer={ids['anna@example.com']}"
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "message/rfc822"
    assert "welcome-step-1-customer-" in answer.headers["content-disposition"]
    message = email.message_from_bytes(answer.content, policy=default_policy)
    assert message["Subject"] == "Welcome to Example Shop, Anna"
    assert message["To"] == "Anna <anna@example.com>"
    html = message.get_body(("html",))
    assert html is not None
    assert f"{studio_settings.http.public_url}/c/" in html.get_content()


async def test_frames_belong_to_who_rendered_them_and_support_sees_no_preview(
    marketer_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
) -> None:
    page = await marketer_client.get("/studio/preview/welcome?step=1")
    frame = FRAME.search(page.text)
    assert frame is not None
    assert (await admin_client.get(f"{frame.group(1)}/mail")).status_code == 404
    assert (await support_client.get("/studio/preview/welcome")).status_code == 403
    assert (await support_client.get("/studio/templates/welcome/hello")).status_code == 403
    missing = await marketer_client.get("/studio/preview/no-such-workflow")
    assert missing.status_code == 404


async def test_the_editor_shows_a_typo_at_its_line_and_saves_only_what_validates(
    marketer_client: httpx.AsyncClient, studio_settings: Settings
) -> None:
    file = studio_settings.paths.templates / "welcome" / "hello.mjml"
    original = file.read_text(encoding="utf-8")
    form = {
        **await open_editor(marketer_client),
        "use": "welcome/1",
        "subject": "Welcome to Example Shop, {{ customer.first_name | default('friend') }}",
        "preheader": "Good to have you here.",
        "sample": "3",
    }
    typo = original.replace("customer.", "custmer.", 1)
    line = next(n for n, text in enumerate(original.splitlines(), 1) if "customer." in text)
    headers = {"Accept": "application/json", "X-CSRF-Token": form["csrf_token"]}
    answer = await marketer_client.post(
        "/studio/templates/welcome/hello/render", data={**form, "source": typo}, headers=headers
    )
    assert answer.status_code == 200
    problems = answer.json()["problems"]
    assert any(p["here"] and p["line"] == line and "custmer" in p["message"] for p in problems)
    stranger = await marketer_client.post(
        "/studio/templates/welcome/hello/render",
        data={**form, "source": original, "customer_email": "nobody@example.com"},
        headers=headers,
    )
    assert stranger.status_code == 422
    assert stranger.json()["error"] == "no customer has the address nobody@example.com"
    refused = await marketer_client.post(
        "/studio/templates/welcome/hello",
        data={**form, "source": typo, "action": "save"},
        headers=headers,
    )
    assert refused.json()["saved"] is False
    assert file.read_text(encoding="utf-8") == original
    fixed = original.replace("</mj-body>", "<mj-section><mj-column><mj-text>See you soon"
                             "</mj-text></mj-column></mj-section></mj-body>")  # fmt: skip
    saved = await marketer_client.post(
        "/studio/templates/welcome/hello",
        data={**form, "source": fixed, "action": "save"},
        headers=headers,
    )
    assert saved.json()["saved"] is True, saved.json()
    assert "mailengine reload" in saved.json()["message"]
    assert file.read_text(encoding="utf-8") == fixed
    again = await marketer_client.post(
        "/studio/templates/welcome/hello",
        data={**form, "source": fixed + "\n", "action": "save"},
        headers=headers,
    )
    assert again.status_code == 409
    assert "changed on disk since you opened it" in again.json()["error"]


async def test_the_editor_opens_only_templates_and_wants_its_token(
    marketer_client: httpx.AsyncClient,
) -> None:
    for path in ("/studio/templates/%2E%2E/config", "/studio/templates/welcome/..%2F..%2Fconfig"):
        answer = await marketer_client.get(path)
        assert answer.status_code == 404, path
    listing = await marketer_client.get("/studio/templates")
    assert 'href="/studio/templates/partials/footer"' in listing.text
    forged = await marketer_client.post(
        "/studio/templates/welcome/hello", data={"source": "x", "action": "save"}
    )
    assert forged.status_code == 403


async def test_the_editor_form_works_without_script(
    marketer_client: httpx.AsyncClient, studio_settings: Settings
) -> None:
    file = studio_settings.paths.templates / "welcome" / "hello.mjml"
    original = file.read_text(encoding="utf-8")
    form = {**await open_editor(marketer_client), "sample": "2"}
    broken = original.replace("</mj-text>", "", 1)
    shown = await marketer_client.post(
        "/studio/templates/welcome/hello", data={**form, "source": broken, "action": "preview"}
    )
    assert shown.status_code == 200
    assert "&lt;mj-text&gt; is never closed" in shown.text
    assert 'data-line="9"' in shown.text
    refused = await marketer_client.post(
        "/studio/templates/welcome/hello", data={**form, "source": broken, "action": "save"}
    )
    assert refused.status_code == 200 and "is never closed" in refused.text
    assert file.read_text(encoding="utf-8") == original
