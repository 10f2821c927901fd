"""The broadcasts API over real HTTP (uvicorn on 127.0.0.1), on SQLite and PostgreSQL, with the
engine's schedule check handed to the app as `mailengine run` hands it (frozen clock: Monday
23 November 2026, 10:00 in Berlin)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailengine.broadcasts.model import Broadcast
from mailengine.clock import FrozenClock
from mailengine.config import Settings
from mailengine.engine.broadcast_checks import check_for_schedule
from mailengine.store import broadcast_runs as runs
from mailengine.store.database import Database
from mailengine.web.api_keys import hash_api_key
from mailengine.web.app import create_app
from mailengine.web.idempotency import REPLAYED_HEADER
from mailengine.workflows.problems import Problem
from tests.broadcasts import report_shop
from tests.web.conftest import API_KEY, AUTH, SECRET, add_customers, serving

REPO = Path(__file__).resolve().parents[2]
SALE: dict[str, Any] = {
    "name": "api-sale",
    "description": "Made by the shop's newsletter tool",
    "topic": "promotions",
    "audience": {"city": {"in": ["Berlin", "Wien"]}},
    "template": "newsletter/newsletter",
    "subject": "{{ customer.first_name | default('Hello') }}, 20 % off",
    "send_at": "2026-11-24 09:00",
    "coupon": {"percent": 20, "valid_for": "7 days"},
    "content": {
        "headline": "The winter sale",
        "products": [
            {
                "title": "Merino sweater",
                "price": 71.2,
                "image": "favourites/merino-sweater.png",
                "link": "/k",
            }
        ],
    },
    "ab_test": {
        "variants": [
            {"name": "A", "share": "10%"},
            {"name": "B", "share": "10%", "subject": "Only this week"},
        ],
        "winner": {"metric": "clicks", "after": "4 hours"},
    },
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "paths": base.paths.model_copy(
                update={
                    "templates": REPO / "templates",
                    "broadcasts": tmp_path / "broadcasts",
                    "var": tmp_path / "var",
                }
            ),
        }
    )


@pytest.fixture
async def api(
    database: Database, settings: Settings, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the engine's check, served on a free loopback port."""
    add_customers(database, [("ada@example.com", "granted"), ("ben@example.com", "granted")])

    def check(broadcast: Broadcast, now: datetime) -> list[Problem]:
        return check_for_schedule(settings, database, broadcast, now).all_problems()

    app = create_app(
        settings,
        database,
        api_key_hashes=[hash_api_key(API_KEY)],
        clock=clock,
        secret=SECRET,
        broadcast_check=check,
    )
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield client


def sale(**changes: Any) -> dict[str, Any]:
    return {**SALE, **changes}


async def test_a_broadcast_is_created_once_and_then_stays_as_it_was(
    api: httpx.AsyncClient, database: Database
) -> None:
    created = await api.post("/v1/broadcasts", json=SALE, headers=AUTH)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["origin"], body["state"], body["topic"]) == (
        "api-sale", "api", "scheduled", "promotions",
    )  # fmt: skip
    assert body["send_at"] == "2026-11-24 09:00 Europe/Berlin"
    assert body["first_send"] == "2026-11-24T08:00:00Z"
    assert body["plan_at"] == "2026-11-24T07:55:00Z"  # five minutes before
    assert body["messages"] == {}
    with database.session() as session:
        run = runs.load(session, "api-sale")
    assert run is not None and run.origin == "api" and run.path is None
    assert json.loads(run.source) == SALE  # its JSON, as sent
    # The same broadcast again, keys in another order and spaced otherwise: nothing changes.
    again = await api.post(
        "/v1/broadcasts",
        content=json.dumps(dict(reversed(SALE.items())), indent=4),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json() == body
    # Another broadcast under that name is refused, and the stored one stays.
    other = await api.post("/v1/broadcasts", json=sale(subject="Hello"), headers=AUTH)
    assert other.status_code == 409
    assert "api-sale is taken" in other.json()["detail"]
    with database.session() as session:
        assert runs.load(session, "api-sale") == run
    listed = await api.get("/v1/broadcasts", headers=AUTH)
    assert [item["name"] for item in listed.json()["broadcasts"]] == ["api-sale"]


async def test_a_name_of_a_broadcast_file_is_taken(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    folder = settings.paths.broadcasts
    folder.mkdir()
    (folder / "sale.yaml").write_text(
        "name: api-sale\ntemplate: newsletter/newsletter\nsubject: Hi\n"
        'send_at: "2027-01-14 09:00"\n',
        encoding="utf-8",
    )
    refused = await api.post("/v1/broadcasts", json=SALE, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("the broadcast file ")


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (sale(subjet="Hi"), ["body", "subjet"], "did you mean 'subject'?"),
        ({k: v for k, v in SALE.items() if k != "template"}, ["body"], "missing 'template'"),
        (
            sale(ab_test={**SALE["ab_test"], "variants": [{"name": "A", "share": "10%"},
                                                          {"name": "B", "share": "ten"}]}),
            ["body", "ab_test", "variants", 1, "share"],
            "ten",
        ),
        (sale(send_at={"date": "2026-11-31", "local": "10:00"}), ["body", "send_at", "date"],
         "2026-11-31"),
        (sale(template="newsletter/nothing-like-it"), ["body", "template"], "nothing-like-it"),
        (sale(subject="{{ customer.shoe_size }}"), ["body", "subject"], "shoe_size"),
        (sale(send_at="2026-11-22 09:00"), ["body", "send_at"], "has passed"),
        ([1, 2], ["body"], "a mapping"),
    ],
    ids=["unknown-key", "missing", "share", "date", "template", "subject", "passed", "list"],
)  # fmt: skip
async def test_every_refusal_names_its_field(
    api: httpx.AsyncClient, database: Database, body: Any, loc: list[Any], words: str
) -> None:
    refused = await api.post("/v1/broadcasts", json=body, headers=AUTH)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert [item["loc"] for item in detail] == [loc], detail
    assert words in detail[0]["msg"]
    with database.session() as session:
        assert runs.all_runs(session) == []


async def test_not_json_and_a_broken_render_are_refused(api: httpx.AsyncClient) -> None:
    garbled = await api.post(
        "/v1/broadcasts",
        content=b'{"name": "x",',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert garbled.status_code == 422
    assert garbled.json()["detail"][0]["loc"] == ["body"]
    assert "not JSON" in garbled.json()["detail"][0]["msg"]
    # A product without a price: the template's `money` filter fails for every customer,
    # as `mailengine broadcast schedule` finds for a file.
    content = {
        "products": [{"title": "Boots", "image": "favourites/leather-boots.png", "link": "/b"}]
    }
    refused = await api.post("/v1/broadcasts", json=sale(content=content), headers=AUTH)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert {tuple(item["loc"]) for item in detail} == {("body", "template")}
    assert "variant A (newsletter/newsletter) fails for" in detail[0]["msg"]


async def test_a_send_time_that_passed_goes_at_once_with_now(api: httpx.AsyncClient) -> None:
    made = await api.post(
        "/v1/broadcasts?now=true", json=sale(send_at="2026-11-22 09:00"), headers=AUTH
    )
    assert made.status_code == 201, made.text
    assert made.json()["plan_at"] == "2026-11-23T09:00:00Z"


async def test_pause_resume_cancel(api: httpx.AsyncClient, database: Database) -> None:
    assert (await api.post("/v1/broadcasts", json=SALE, headers=AUTH)).status_code == 201
    paused = await api.post("/v1/broadcasts/api-sale/pause", headers=AUTH)
    assert paused.status_code == 200
    assert paused.json() == {"name": "api-sale", "state": "paused", "messages": 0}
    twice = await api.post("/v1/broadcasts/api-sale/pause", headers=AUTH)
    assert (twice.status_code, twice.json()) == (409, {"detail": "api-sale is paused"})
    resumed = await api.post("/v1/broadcasts/api-sale/resume", headers=AUTH)
    assert resumed.json()["state"] == "scheduled"
    key = {**AUTH, "Idempotency-Key": "cancel-1"}
    cancelled = await api.post("/v1/broadcasts/api-sale/cancel", headers=key)
    assert cancelled.json()["state"] == "cancelled"
    replayed = await api.post("/v1/broadcasts/api-sale/cancel", headers=key)
    assert replayed.status_code == 200 and replayed.headers[REPLAYED_HEADER] == "true"
    missing = await api.post("/v1/broadcasts/no-such/cancel", headers=AUTH)
    assert missing.status_code == 404
    # A cancelled name is not given out again.
    other = await api.post("/v1/broadcasts", json=sale(subject="Again"), headers=AUTH)
    assert other.status_code == 409


async def test_every_endpoint_needs_a_key(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("POST", "/v1/broadcasts"),
        ("GET", "/v1/broadcasts"),
        ("GET", "/v1/broadcasts/api-sale"),
        ("POST", "/v1/broadcasts/api-sale/pause"),
        ("POST", "/v1/broadcasts/api-sale/resume"),
        ("POST", "/v1/broadcasts/api-sale/cancel"),
    ):
        answer = await api.request(method, path, json=SALE if method == "POST" else None)
        assert answer.status_code == 401, (method, path)


async def test_one_broadcast_with_its_figures_and_winner(
    api: httpx.AsyncClient, database: Database
) -> None:
    report_shop.build(database)
    source = json.dumps(sale(name=report_shop.NAME, send_at="2026-11-13 10:00", topic="newsletter"))
    with database.transaction() as session:
        runs.schedule(
            session, name=report_shop.NAME, origin="api", path=None, version="v1",
            source=source, plan_at=report_shop.T0, now=report_shop.T0, by="test",
        )  # fmt: skip
    answer = await api.get(f"/v1/broadcasts/{report_shop.NAME}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["messages"] == {
        "sent": 11, "failed": 3, "suppressed": 3, "deferred": 1, "paused": 1, "queued": 1,
    }  # fmt: skip
    a, b = found["variants"]["A"], found["variants"]["B"]
    assert (a["planned"], a["delivered"], b["planned"], b["delivered"]) == (8, 4, 12, 6)
    assert a["click_rate"]["estimate"] == 0.25
    assert list(b["phases"]) == ["test", "rest"]
    winner = found["winner_choice"]
    assert (winner["metric"], winner["variant"], winner["significant"]) == ("clicks", "B", False)
    assert winner["sentence"].startswith("B leads on click rate with 40.0% (against A 25.0%")
    missing = await api.get("/v1/broadcasts/no-such", headers=AUTH)
    assert missing.status_code == 404
    listed = (await api.get("/v1/broadcasts", headers=AUTH)).json()["broadcasts"]
    assert listed[0]["messages"] == found["messages"]
    assert listed[0]["first_send"] == (report_shop.T0).isoformat().replace("+00:00", "Z")


async def test_the_api_names_when_planning_starts_for_a_local_send_time(
    api: httpx.AsyncClient,
) -> None:
    local = {k: v for k, v in SALE.items() if k != "ab_test"}
    local["send_at"] = {"date": "2026-11-25", "local": "10:00"}
    made = await api.post("/v1/broadcasts", json=local, headers=AUTH)
    assert made.status_code == 201, made.text
    assert made.json()["send_at"] == "2026-11-25 10:00 in each customer's zone"
    # 10:00 first comes at UTC+14: 20:00 UTC the day before; planning five minutes earlier.
    assert made.json()["plan_at"] == "2026-11-24T19:55:00Z"
