"""The overview: each workflow file's state as `validate` finds it, and the outbox by state."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from mailengine.store.database import Database
from tests.web.conftest import add_customers, plan_marketing

TYPO = "stpes:"


def _rows(html: str) -> dict[str, str]:
    """File -> its state badge."""
    found = re.findall(
        r"<td><code>(workflows/[^<]+)</code></td>.*?<span class=\"badge [^\"]+\">([^<]+)</span>",
        html,
        flags=re.S,
    )
    return dict(found)


async def test_every_file_shows_its_state_and_problems_at_their_place(
    admin_client: httpx.AsyncClient, studio_app: FastAPI
) -> None:
    folder: Path = studio_app.state.studio.workflows_dir
    first = await admin_client.get("/studio/")
    assert _rows(first.text) == {
        "workflows/birthday.yaml": "Valid",
        "workflows/churn-risk-win-back.yaml": "Valid",
        "workflows/nps-promoters.yaml": "Valid",
        "workflows/replenish.yaml": "Valid",
        "workflows/thank-you.yaml": "Valid",
        "workflows/vip.yaml": "Valid",
        "workflows/welcome.yaml": "Valid",
        "workflows/win-back.yaml": "Valid",
    }
    assert "8 of 8 valid" in first.text

    welcome = folder / "welcome.yaml"
    welcome.write_text(welcome.read_text().replace("steps:", TYPO), encoding="utf-8")
    template = folder.parent / "templates" / "win-back" / "we-miss-you.mjml"
    template.write_text(template.read_text().replace("{% endif %}", "{% endiff %}"), "utf-8")
    (folder / "broken.yaml").write_text("name: broken\ntrigger: [\n", encoding="utf-8")

    changed = await admin_client.get("/studio/")  # files changed: checked again
    rows = _rows(changed.text)
    assert rows["workflows/birthday.yaml"] == "Valid"
    assert rows["workflows/welcome.yaml"] == "2 problems"
    assert rows["workflows/win-back.yaml"] == "1 problem"
    assert rows["workflows/churn-risk-win-back.yaml"] == "1 problem"  # sends it too
    assert rows["workflows/broken.yaml"] == "1 problem"
    assert "5 of 9 valid" in changed.text
    problems = re.findall(r'<code class="where">([^<]+)</code> <span>([^<]+)</span>', changed.text)
    places = [place for place, _ in problems]
    assert "workflows/welcome.yaml:6:1" in places
    assert any(place.startswith("workflows/broken.yaml:3:") for place in places)
    assert "templates/win-back/we-miss-you.mjml:9" in places  # a template's, at its line
    said = dict(problems)
    assert html.unescape(said["workflows/welcome.yaml:6:1"]).startswith(
        "unknown key 'stpes' in a workflow (did you mean 'steps'?)"
    )
    assert html.unescape(said["workflows/welcome.yaml:1:1"]) == (
        "missing 'steps': every workflow needs name, trigger and steps"
    )


async def test_the_outbox_counts_each_state(
    admin_client: httpx.AsyncClient, database: Database
) -> None:
    people = add_customers(database, [(f"c{n}@example.com", "granted") for n in range(3)])
    plan_marketing(database, people)
    page = await admin_client.get("/studio/")
    counts = dict(
        re.findall(
            r'<span class="stat-label">(\w+)</span>\s*<span class="stat-value">([\d,]+)</span>',
            page.text,
        )
    )
    assert counts == {
        "Queued": "3",
        "Sending": "0",
        "Sent": "0",
        "Deferred": "0",
        "Paused": "0",
        "Failed": "0",
        "Suppressed": "0",
    }


async def test_a_file_shows_its_warnings_apart_from_its_problems(
    admin_client: httpx.AsyncClient, studio_app: FastAPI
) -> None:
    folder: Path = studio_app.state.studio.workflows_dir
    first = await admin_client.get("/studio/")
    assert "warnings-row" not in first.text
    birthday = folder / "birthday.yaml"
    text = birthday.read_text(encoding="utf-8")
    birthday.write_text(
        "\n".join(line for line in text.splitlines() if "preheader:" not in line) + "\n",
        encoding="utf-8",
    )
    page = await admin_client.get("/studio/")
    assert _rows(page.text)["workflows/birthday.yaml"] == "Valid"  # it still sends
    rows = re.findall(r'<tr class="problems-row warnings-row">(.*?)</tr>', page.text, flags=re.S)
    assert len(rows) == 1 and "1 warning(s)" in rows[0]
    assert '<code class="where">workflows/birthday.yaml:10:5</code> <span>no preheader' in rows[0]
