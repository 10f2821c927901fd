"""Logging in and out of the studio, CSRF and roles, over the app as `mailengine run` builds it."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from sqlalchemy import select

from mailengine.cli.web_app import build_web_app
from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.store.users import session_table
from mailengine.studio.login import NO_MATCH, safe_next
from mailengine.studio.sessions import COOKIE
from tests.studio.conftest import (
    ADMIN,
    PASSWORD,
    PUBLIC_URL,
    SUPPORT,
    client_of,
    csrf_token,
    form_token,
    log_in,
)

PAGE = {"Accept": "text/html"}


def _stored_token_hashes(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.execute(select(session_table.c.token_hash)).scalars())


async def test_logging_in_opens_the_studio_and_logging_out_closes_it(
    studio_client: httpx.AsyncClient, database: Database
) -> None:
    before = await studio_client.get("/studio/", headers=PAGE)
    assert before.status_code == 303
    assert before.headers["location"] == "/studio/login?next=/studio/"
    assert (await studio_client.get("/studio/")).status_code == 401  # a script, not a page
    form = await studio_client.post("/studio/logout", headers=PAGE)  # a form, once idle
    assert form.status_code == 303 and form.headers["location"] == "/studio/login"

    answer = await log_in(studio_client, ADMIN)
    assert answer.status_code == 303 and answer.headers["location"] == "/studio/"
    cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    assert "Path=/studio" in cookie
    token = studio_client.cookies[COOKIE]
    assert _stored_token_hashes(database) == [hashlib.sha256(token.encode()).hexdigest()]

    overview = await studio_client.get("/studio/")
    assert overview.status_code == 200
    assert ADMIN in overview.text and "Workflow files" in overview.text
    assert overview.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in overview.headers["content-security-policy"]

    out = await studio_client.post("/studio/logout", data={"csrf_token": csrf_token(overview.text)})
    assert out.status_code == 303 and out.headers["location"] == "/studio/login?out=1"
    assert _stored_token_hashes(database) == []
    assert "You have logged out." in (await studio_client.get("/studio/login?out=1")).text
    studio_client.cookies.clear()
    again = await studio_client.get("/studio/", headers={**PAGE, "Cookie": f"{COOKIE}={token}"})
    assert again.status_code == 303  # the old cookie opens nothing once logged out


async def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    studio_client: httpx.AsyncClient, database: Database
) -> None:
    wrong = await log_in(studio_client, ADMIN, "not the password at all")
    unknown = await log_in(studio_client, "nobody@shop.example", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert NO_MATCH in answer.text
        assert f"{COOKIE}=" not in answer.headers.get("set-cookie", "")
    assert _blanked(wrong.text) == _blanked(unknown.text)
    assert _stored_token_hashes(database) == []


def _blanked(page: str) -> str:
    """The page without its field values (the address typed in, the per-form token)."""
    return re.sub(r'value="[^"]*"', 'value=""', page)


async def test_failed_log_ins_lock_the_address_even_across_a_restart(
    studio_app: FastAPI, database: Database, frozen_time: time_machine.Traveller
) -> None:
    async with client_of(studio_app) as client:
        for _ in range(4):
            assert (await log_in(client, ADMIN, "wrong password!")).status_code == 401
        locked = await log_in(client, ADMIN, "wrong password!")
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "30"
        assert "Too many failed log-ins" in locked.text
        refused = await log_in(client, ADMIN, PASSWORD)  # the right one waits too
        assert refused.status_code == 429
        unknown = await log_in(client, "nobody@shop.example", "wrong password!")
        assert unknown.status_code == 401  # another address is not locked

    restarted = _rebuilt_app(studio_app, database)  # failures live in the database
    async with client_of(restarted) as client:
        assert (await log_in(client, ADMIN, PASSWORD)).status_code == 429
        frozen_time.shift(timedelta(seconds=31))
        doubled = await log_in(client, ADMIN, "wrong password!")
        assert doubled.status_code == 429 and doubled.headers["retry-after"] == "60"
        frozen_time.shift(timedelta(seconds=61))
        assert (await log_in(client, ADMIN, PASSWORD)).status_code == 303
        assert (await client.get("/studio/")).status_code == 200


async def test_an_unknown_address_is_locked_like_a_known_one(
    studio_client: httpx.AsyncClient, frozen_time: time_machine.Traveller
) -> None:
    for _ in range(4):
        await log_in(studio_client, "nobody@shop.example", "wrong password!")
    locked = await log_in(studio_client, "nobody@shop.example", "wrong password!")
    assert locked.status_code == 429 and locked.headers["retry-after"] == "30"


async def test_failures_from_one_client_address_lock_it_for_every_address(
    studio_app: FastAPI, database: Database, frozen_time: time_machine.Traveller
) -> None:
    settings = studio_app.state.studio.settings
    strict = settings.model_copy(
        update={"studio": settings.studio.model_copy(update={"login_attempts_per_ip": 3})}
    )
    app = _rebuilt_app(studio_app, database, strict)
    async with client_of(app) as client:
        for name in ("a", "b"):
            assert (await log_in(client, f"{name}@shop.example", "wrong!")).status_code == 401
        assert (await log_in(client, "c@shop.example", "wrong!")).status_code == 429
        assert (await log_in(client, ADMIN, PASSWORD)).status_code == 429
    elsewhere = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=elsewhere, base_url=PUBLIC_URL) as other:
        assert (await log_in(other, ADMIN, PASSWORD)).status_code == 303


async def test_posts_without_the_sessions_csrf_token_change_nothing(
    admin_client: httpx.AsyncClient,
) -> None:
    overview = await admin_client.get("/studio/")
    for form in ({}, {"csrf_token": "forged"}):
        refused = await admin_client.post("/studio/logout", data=form)
        assert refused.status_code == 403
        assert "This form has expired" in refused.text
    assert (await admin_client.get("/studio/")).status_code == 200  # still logged in
    by_header = await admin_client.post(
        "/studio/logout", headers={"X-CSRF-Token": csrf_token(overview.text)}
    )
    assert by_header.status_code == 303


async def test_a_login_form_from_elsewhere_is_refused(studio_client: httpx.AsyncClient) -> None:
    page = await studio_client.get("/studio/login")
    studio_client.cookies.clear()  # a form posted from another site comes without our cookie
    answer = await studio_client.post(
        "/studio/login",
        data={"email": ADMIN, "password": PASSWORD, "form_token": form_token(page.text)},
    )
    assert answer.status_code == 400
    assert "The log-in form had expired" in answer.text
    assert COOKIE not in studio_client.cookies


async def test_a_role_without_access_gets_the_403_page(
    support_client: httpx.AsyncClient, admin_client: httpx.AsyncClient
) -> None:
    refused = await support_client.get("/studio/accounts")
    assert refused.status_code == 403
    assert "Not for your role" in refused.text
    assert f"logged in as {SUPPORT} with the role support" in refused.text
    overview = await support_client.get("/studio/")
    assert overview.status_code == 200
    assert 'href="/studio/accounts"' not in overview.text  # no link to a page it cannot open

    accounts = await admin_client.get("/studio/accounts")
    assert accounts.status_code == 200
    assert SUPPORT in accounts.text and "$argon2" not in accounts.text
    assert 'href="/studio/accounts" aria-current="page"' in accounts.text


async def test_a_session_ends_after_idling_and_at_its_expiry(
    studio_app: FastAPI, frozen_time: time_machine.Traveller
) -> None:
    async with client_of(studio_app) as client:
        await log_in(client, ADMIN)
        for _ in range(3):  # each request within the idle time keeps it alive
            frozen_time.shift(timedelta(minutes=59))
            assert (await client.get("/studio/", headers=PAGE)).status_code == 200
        frozen_time.shift(timedelta(minutes=60))
        idle = await client.get("/studio/", headers=PAGE)
        assert idle.status_code == 303 and idle.headers["location"].startswith("/studio/login")

        await log_in(client, ADMIN)
        token = client.cookies[COOKIE]
        for _ in range(14):
            frozen_time.shift(timedelta(minutes=50))
            assert (await client.get("/studio/")).status_code == 200
    # 11 h 40 min in; at 12 h the session has expired, however active (the cookie is sent
    # by hand: a browser would already have dropped it)
    frozen_time.shift(timedelta(minutes=20))
    async with client_of(studio_app) as bare:
        expired = await bare.get("/studio/", headers={**PAGE, "Cookie": f"{COOKIE}={token}"})
    assert expired.status_code == 303


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/studio/workflows?name=welcome", "/studio/workflows?name=welcome"),
        ("//evil.example/studio/", "/studio/"),
        ("/studio//evil.example", "/studio/"),
        ("https://evil.example/studio/", "/studio/"),
        ("/studio/\\evil", "/studio/"),
        ("/docs", "/studio/"),
    ],
)
def test_after_logging_in_only_studio_pages_are_followed(target: str, kept: str) -> None:
    assert safe_next(target) == kept


def _rebuilt_app(app: FastAPI, database: Database, settings: Settings | None = None) -> FastAPI:
    """The app as a restarted `mailengine run` builds it again, over the same database."""
    used: Settings = settings if settings is not None else app.state.studio.settings
    return build_web_app(used, database, SystemClock()).app
