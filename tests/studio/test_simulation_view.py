"""The simulation page's data and timeline: the CLI's run, in the customer's zone, as SVG."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import time_machine

from mailengine.config import load_settings
from mailengine.outbound import Composer
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import customer_ids_by_email
from mailengine.store.database import Database
from mailengine.studio.simulation_view import SimulationView, simulate_customer
from mailengine.studio.timeline_svg import timeline_svg
from mailengine.workflows.loader import load_workflows
from tests.engine.test_simulate_and_preview import NOW, make_shop

SVG = "{http://www.w3.org/2000/svg}"


def simulated(config: Path, workflow: str, email: str, days: int) -> SimulationView:
    settings = load_settings(config)
    database = Database(settings.database.url)
    try:
        with database.session() as session:
            customer = customer_ids_by_email(session, [email])[email]
        workflows = load_workflows([settings.paths.workflows]).workflows
        secret = secrets.token_bytes(32)  # a look keys nothing that is kept
        composer = Composer(settings, TemplateLibrary(settings.paths.templates), secret)
        return simulate_customer(
            settings, database, workflows.values(), workflows[workflow], customer, NOW, days,
            composer, secret,
        )  # fmt: skip
    finally:
        database.dispose()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    with time_machine.travel(NOW, tick=False):
        return make_shop(tmp_path, "")


@time_machine.travel(NOW, tick=False)
def test_a_welcome_series_in_the_customers_zone_with_rendered_subjects(shop: Path) -> None:
    view = simulated(shop, "welcome", "dora@example.com", 10)  # New York, no orders
    assert view.zone.key == "America/New_York"
    assert [(mail.number, mail.step_id) for mail in view.mails] == [
        (1, "1"), (2, "3"), (3, "5.then.1"),
    ]  # fmt: skip
    assert view.mails[0].subject == "Welcome to Example Shop, Dora"
    assert all(mail.at.tzinfo == view.zone for mail in view.mails)
    assert view.mails[2].at.hour == 10  # wait until 10:00 their time
    assert view.why_nothing() == []
    assert view.trigger.startswith("trigger: when customer.created arrives")
    root = ET.fromstring(timeline_svg(view))
    mails = [g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "mail"]
    assert [g.attrib["data-step"] for g in mails] == ["1", "3", "5.then.1"]
    xs = [float(g.find(f"{SVG}circle").attrib["cx"]) for g in mails]  # type: ignore[union-attr]
    assert xs == sorted(xs) and len(set(xs)) == 3
    days = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "day"]
    assert days[0] == "Nov 24" and len(days) == 10


@time_machine.travel(NOW, tick=False)
def test_the_reasons_a_customer_gets_nothing(shop: Path) -> None:
    view = simulated(shop, "win-back", "bob@example.com", 30)
    assert view.mails == [] and view.outcome == "not enrolled"
    assert view.why_nothing() == [
        "2026-11-24 09:00 to 2026-12-23 09:00 (30 times, as at the first): no marketing "
        "consent (withdrawn on 2026-05-02); not in the audience: orders_count is 0, the "
        "audience wants >= 1; last_order_at is not set (no orders), the audience wants 90+ "
        "days ago"
    ]
    assert view.leaving == "leaves when order.placed arrives (no such event is simulated)"
    root = ET.fromstring(timeline_svg(view))
    misses = [g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "miss"]
    assert len(misses) == 1
    bar = misses[0].find(f"{SVG}rect")
    assert bar is not None and float(bar.attrib["width"]) > 500  # the whole month
    assert "no marketing consent" in (misses[0].find(f"{SVG}title").text or "")  # type: ignore[union-attr]


@time_machine.travel(NOW, tick=False)
def test_days_out_of_range_are_refused(shop: Path) -> None:
    with pytest.raises(ValueError, match="days: simulate 1 to 365 days, not 0"):
        simulated(shop, "welcome", "dora@example.com", 0)
