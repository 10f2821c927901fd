"""The Workflows pages over HTTP: the list with its states, a workflow's flow and figures."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import time_machine
from fastapi import FastAPI

from mailengine.store.api_queries import record_tracking_event
from mailengine.store.database import Database
from mailengine.store.enrollments import NewEnrollment, enroll
from mailengine.workflows.loader import load_workflows
from tests.conftest import NOW
from tests.web.conftest import add_customers
from tests.web.test_report import add_send

HOUR = timedelta(hours=1)


def cells(html: str, marker: str) -> list[str]:
    """The text of each cell of the first table row that contains `marker`."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        if marker in row:
            found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
            return [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in found]
    raise AssertionError(f"no table row with {marker}")


def welcome_customers(database: Database, folder: Path) -> None:
    """Three customers in the welcome workflow, one through it; four welcome mails sent."""
    version = load_workflows([folder]).workflows["welcome"].version
    people = add_customers(database, [(f"w{n}@example.com", "granted") for n in range(5)])
    ids = list(people.values())
    rows = [
        NewEnrollment("welcome", version, ids[0], "e1", "3", NOW + 2 * HOUR),  # in the wait
        NewEnrollment("welcome", version, ids[1], "e1", "3", NOW + 30 * HOUR),
        NewEnrollment("welcome", version, ids[2], "e1", "5", NOW - HOUR),  # overdue
        NewEnrollment("welcome", version, ids[3], "e1", None, NOW),  # done
    ]
    with database.transaction() as session:
        enroll(session, rows, NOW - 72 * HOUR)
    sent = [add_send(database, ids[n], "welcome", "sent", at=NOW - 60 * HOUR) for n in range(4)]
    with database.transaction() as session:
        record_tracking_event(session, sent[0], "open", NOW - 50 * HOUR)
        record_tracking_event(session, sent[1], "click", NOW - 50 * HOUR)


async def test_the_list_shows_every_file_with_its_state_and_customers(
    marketer_client: httpx.AsyncClient, studio_app: FastAPI, database: Database,
    frozen_time: time_machine.Traveller,
) -> None:  # fmt: skip
    folder: Path = studio_app.state.studio.workflows_dir
    welcome_customers(database, folder)
    (folder / "vip.yaml").write_text(
        (folder / "vip.yaml").read_text().replace("percent: 20", "percent: 200"), "utf-8"
    )
    page = await marketer_client.get("/studio/workflows")
    assert page.status_code == 200
    assert "<h1>Workflows</h1>" in page.text
    assert cells(page.text, "/studio/workflows/welcome")[2:] == [
        "on customer.created", "3", "3", "4", "Valid",
    ]  # fmt: skip
    assert cells(page.text, "workflows/vip.yaml")[-1] == "1 problem"
    problem = re.search(r'<code class="where">(workflows/vip\.yaml:\d+:\d+)</code>', page.text)
    assert problem, "the problem is not shown at its place"
    assert 'href="/studio/workflows/vip"' not in page.text  # it does not load


async def test_a_workflow_page_draws_the_flow_with_its_figures(
    marketer_client: httpx.AsyncClient, studio_app: FastAPI, database: Database,
    frozen_time: time_machine.Traveller,
) -> None:  # fmt: skip
    folder: Path = studio_app.state.studio.workflows_dir
    welcome_customers(database, folder)
    page = await marketer_client.get("/studio/workflows/welcome")
    assert page.status_code == 200, page.text
    html = page.text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    keys = re.findall(r'data-key="([^"]+)"', html)
    assert keys == ["trigger", "1", "2", "3", "4", "5", "5.then.1", "end"]
    assert "enrolled 4 · active 3" in html
    assert "here 2 · waiting 2 · due in 24 h 1" in html  # step 3, after the 3-day wait
    assert "here 1 · waiting 0 · due in 24 h 1" in html  # step 5, overdue
    assert "sent 4 · opened 2 (50.0 %)" in html
    words = re.search(r'<ol class="flow-list">.*</ol>', html, re.S)
    assert words and words.group(0).count('class="flow-item') == 8
    assert "If yes:" in words.group(0) and "If no:" in words.group(0)
    assert 'href="/studio/simulation?workflow=welcome"' in html
    assert "Re-entry</dt><dd>never" in html


async def test_unknown_names_periods_and_roles(
    marketer_client: httpx.AsyncClient, support_client: httpx.AsyncClient,
    frozen_time: time_machine.Traveller,
) -> None:  # fmt: skip
    missing = await marketer_client.get("/studio/workflows/nope")
    assert missing.status_code == 404
    assert (
        "No workflow named nope" in missing.text
        and "loaded: birthday, churn-risk-win-back" in missing.text
    )
    period = await marketer_client.get("/studio/workflows/welcome?period=2y")
    assert period.status_code == 400
    assert "period: &#39;2y&#39; is not a period here; choose one of 7d, 30d, 90d" in period.text
    refused = await support_client.get("/studio/workflows", headers={"accept": "text/html"})
    assert refused.status_code == 403
