"""The Broadcasts pages over HTTP, on SQLite and PostgreSQL: the list, one broadcast with its
facts, report and winner, and Pause / Resume / Cancel for admins and marketers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import time_machine

from mailengine.config import Settings
from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_report import broadcast_report
from mailengine.store.database import Database
from tests.conftest import NOW
from tests.studio import broadcast_shop
from tests.studio.broadcast_shop import NAME
from tests.studio.conftest import csrf_token
from tests.studio.test_report_pages import text_of
from tests.studio.test_workflow_pages import cells

PAGE = f"/studio/broadcasts/{NAME}"


async def test_the_list_has_every_broadcast_with_its_mail_so_far(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    broadcast_shop.build(database)
    page = await marketer_client.get("/studio/broadcasts")
    assert page.status_code == 200, page.text
    names = re.findall(r'class="strong-link" href="/studio/broadcasts/([^"]+)"', page.text)
    assert names == ["december-newsletter", NAME, "winter-sale"]
    with database.session() as session:
        figures = broadcast_report(session, NAME, timedelta(days=5), NOW).variants
    sent, opened, clicked = (
        sum(getattr(item, name) for item in figures.values())
        for name in ("sent", "opened", "clicked")
    )
    assert (sent, opened, clicked) == (12, 6, 3)  # as `broadcast report` counts them
    row = cells(page.text, f'href="/studio/broadcasts/{NAME}"')
    assert row[1:5] == ["promotions", "2026-11-13 10:00 Europe/Berlin", "20 planned", "planned"]
    assert row[5:] == ["12", "6 (50.0 %)", "3 (25.0 %)"]
    letter = cells(page.text, 'href="/studio/broadcasts/december-newsletter"')
    assert letter[1:3] == ["newsletter", "2026-12-17 10:00 in each customer's zone"]
    assert letter[4:] == ["not scheduled", "0", "0", "0"]


async def test_one_broadcast_with_its_facts_report_and_winner(
    marketer_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    broadcast_shop.build(database)
    page = await marketer_client.get(PAGE)
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "topic (customers may turn it off) promotions" in text
    assert "winner the variant with the most clicks, 4 hours after the test goes" in text
    assert cells(page.text, "<th scope=\"col\" class=\"num\">A</th>") == [
        "Figure", "A", "B", "B test", "B rest",
    ]  # fmt: skip
    assert cells(page.text, ">Click rate<") == [
        "Click rate", "25.0 % (4.6–69.9)", "33.3 % (9.7–70.0)", "40.0 % (11.8–76.9)",
        "0.0 % (0.0–79.3)",
    ]  # fmt: skip
    assert (
        "B went to the rest. By click rate, test cells only: B leads on click rate with 40.0% "
        "(against A 25.0%, difference +15.0 points (-38.1 to +57.2), at 95% confidence), but "
        "the difference is not significant: B is picked on its point estimate."
    ) in text
    assert '<figure class="chart panel">' in page.text
    assert "Sent, opened and clicked per day" in page.text  # four days: per day
    for action in ("pause", "cancel"):
        assert f'action="{PAGE}/{action}"' in page.text
    assert f'action="{PAGE}/resume"' not in page.text
    missing = await marketer_client.get("/studio/broadcasts/nothing-like-it")
    assert missing.status_code == 404


async def test_support_reads_but_does_not_steer(
    support_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    broadcast_shop.build(database)
    page = await support_client.get(PAGE)
    assert page.status_code == 200
    assert "/pause" not in page.text and "/cancel" not in page.text
    refused = await support_client.post(f"{PAGE}/pause", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 403
    assert _state(database) == "planned"


async def test_pause_resume_and_cancel_from_the_page(
    admin_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    broadcast_shop.build(database)
    page = await admin_client.get(PAGE)
    token = csrf_token(page.text)
    forged = await admin_client.post(f"{PAGE}/pause", data={"csrf_token": "not-the-token"})
    assert forged.status_code == 403 and _state(database) == "planned"
    paused = await admin_client.post(f"{PAGE}/pause", data={"csrf_token": token})
    assert (paused.status_code, paused.headers["location"]) == (303, f"{PAGE}?done=paused&n=2")
    assert _state(database) == "paused"
    shown = await admin_client.get(paused.headers["location"])
    assert "Paused: planning stopped and 2 message(s) that had not left are held." in shown.text
    assert f'action="{PAGE}/resume"' in shown.text and f'action="{PAGE}/pause"' not in shown.text
    again = await admin_client.post(f"{PAGE}/pause", data={"csrf_token": token})
    assert again.status_code == 409 and f"{NAME} is paused" in again.text
    resumed = await admin_client.post(f"{PAGE}/resume", data={"csrf_token": token})
    assert resumed.status_code == 303 and _state(database) == "planned"
    cancelled = await admin_client.post(f"{PAGE}/cancel", data={"csrf_token": token})
    assert cancelled.headers["location"] == f"{PAGE}?done=cancelled&n=3"
    assert _state(database) == "cancelled"
    with database.session() as session:
        assert broadcast_outbox.outbox_states(session, NAME).get("queued", 0) == 0


def _state(database: Database) -> str:
    with database.session() as session:
        found = runs.load(session, NAME)
    assert found is not None
    return found.state


async def test_a_marketer_schedules_a_file_and_its_checks_hold_as_on_the_command_line(
    marketer_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    database: Database,
    studio_settings: Settings,
    frozen_time: time_machine.Traveller,
) -> None:
    letter = "/studio/broadcasts/december-newsletter"
    page = await marketer_client.get(letter)
    assert f'action="{letter}/schedule"' in page.text and ">Schedule</button>" in page.text
    token = csrf_token(page.text)
    refused = await support_client.post(f"{letter}/schedule", data={"csrf_token": token})
    assert refused.status_code == 403
    done = await marketer_client.post(f"{letter}/schedule", data={"csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, f"{letter}?done=scheduled")
    with database.session() as session:
        stored = runs.load(session, "december-newsletter")
    assert stored is not None and (stored.state, stored.scheduled_by) == (
        "scheduled",
        "max@shop.example",
    )
    assert stored.plan_at == datetime(
        2026, 12, 16, 19, 55, tzinfo=UTC
    )  # 10:00 at UTC+14, less 5 min
    shown = await marketer_client.get(done.headers["location"])
    assert "Scheduled as its file is now" in shown.text
    assert f'action="{letter}/schedule"' not in shown.text  # until its file changes
    assert f'action="{letter}/cancel"' in shown.text
    folder = studio_settings.paths.broadcasts
    (folder / "broken.yaml").write_text(
        "name: broken\ntemplate: newsletter/nowhere\nsubject: Hi\nsend_at: '2026-12-01 10:00'\n",
        encoding="utf-8",
    )
    broken = await marketer_client.post(
        "/studio/broadcasts/broken/schedule", data={"csrf_token": token}
    )
    assert broken.status_code == 422
    assert (
        "broadcasts/broken.yaml:2:1: template &#39;newsletter/nowhere&#39; not found" in broken.text
    )
    (folder / "late.yaml").write_text(
        "name: late\ntemplate: newsletter/newsletter\nsubject: Hi\nsend_at: '2026-11-20 10:00'\n",
        encoding="utf-8",
    )
    late_page = await marketer_client.get("/studio/broadcasts/late")
    assert ">Send now</button>" in late_page.text and 'name="at_once" value="1"' in late_page.text
    passed = await marketer_client.post(
        "/studio/broadcasts/late/schedule", data={"csrf_token": token}
    )
    assert passed.status_code == 409 and "has passed" in passed.text
    now = await marketer_client.post(
        "/studio/broadcasts/late/schedule", data={"csrf_token": token, "at_once": "1"}
    )
    assert now.status_code == 303
    with database.session() as session:
        late = runs.load(session, "late")
        assert runs.load(session, "broken") is None
    assert late is not None and (late.state, late.plan_at) == ("scheduled", NOW)
