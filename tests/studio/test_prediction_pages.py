"""The Predictions page over HTTP: empty before any run, the last run and back-test once there,
a back-test run from the page (dates checked, marketing roles only)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
import time_machine

from mailengine.dev import demo
from mailengine.engine.prediction_job import run_predictions
from mailengine.store.database import Database
from tests.conftest import NOW
from tests.studio.conftest import csrf_token

PAGE = "/studio/predictions"
BERLIN = ZoneInfo("Europe/Berlin")


async def test_before_any_run_the_page_says_how_to_get_one(
    admin_client: httpx.AsyncClient, frozen_time: time_machine.Traveller
) -> None:
    page = await admin_client.get(PAGE)
    assert page.status_code == 200
    assert "No prediction has run yet" in page.text and "No back-test yet" in page.text
    assert 'href="/studio/predictions" aria-current="page"' in page.text


async def test_a_run_without_models_says_why(
    admin_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    run_predictions(database, BERLIN, NOW)  # no orders at all
    page = await admin_client.get(PAGE)
    assert page.status_code == 200
    assert "The models could not be fitted: no customers to fit the BG/NBD model on" in page.text
    assert "Customers by churn risk" not in page.text


async def test_the_last_run_and_a_backtest_from_the_page(
    admin_client: httpx.AsyncClient, database: Database, frozen_time: time_machine.Traveller
) -> None:
    demo.load(database, 300, seed=3, now=NOW)
    run = run_predictions(database, BERLIN, NOW)
    page = await admin_client.get(PAGE)
    assert f'<span class="stat-value">{run.customers}</span>' in page.text
    assert "Customers by churn risk" in page.text and "BG/NBD" in page.text

    token = csrf_token(page.text)
    bad = await admin_client.post(
        f"{PAGE}/backtest", data={"csrf_token": token, "until": "next May"}
    )
    assert bad.status_code == 400 and "until: &#39;next May&#39; is not a date" in bad.text
    early = await admin_client.post(
        f"{PAGE}/backtest", data={"csrf_token": token, "until": "2000-01-01"}
    )
    assert early.status_code == 400 and "no orders before the holdout period" in early.text

    done = await admin_client.post(
        f"{PAGE}/backtest", data={"csrf_token": token, "until": "2026-05-01"}
    )
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}#backtest"
    shown = await admin_client.get(PAGE)
    assert "Mean orders in the holdout, by repeat orders before it" in shown.text
    assert 'value="2026-05-01"' in shown.text and 'value="2026-11-23"' in shown.text


async def test_support_may_not_open_or_run_it(
    support_client: httpx.AsyncClient, frozen_time: time_machine.Traveller
) -> None:
    assert (await support_client.get(PAGE)).status_code == 403
    overview = await support_client.get("/studio/")
    refused = await support_client.post(
        f"{PAGE}/backtest", data={"csrf_token": csrf_token(overview.text), "until": "2026-05-01"}
    )
    assert refused.status_code == 403
    assert "/studio/predictions" not in overview.text
