"""When the studio is served: once an account exists or `studio.enabled` says so, and never
on a reachable address without https (or the explicit override)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import select

from mailengine.cli.web_app import build_web_app
from mailengine.clock import SystemClock
from mailengine.config import Settings
from mailengine.store.database import Database
from mailengine.store.outbox import outbox_table
from mailengine.studio.enabling import StudioBindError, check_bind, is_loopback
from tests.cli.conftest import REPO, Shop
from tests.conftest import NOW
from tests.studio.conftest import PASSWORD, add_user, client_of, form_token
from tests.web.conftest import add_customers, plan_marketing

PATIENCE = 60
ADA = "ada@shop.example"


def _with(settings: Settings, **sections: dict[str, object]) -> Settings:
    return settings.model_copy(
        update={
            name: getattr(settings, name).model_copy(update=values)
            for name, values in sections.items()
        }
    )


async def test_off_until_someone_can_log_in_or_it_is_enabled(
    studio_settings: Settings, sqlite_database: Database
) -> None:
    off = build_web_app(studio_settings, sqlite_database, SystemClock())
    assert not off.studio_on
    assert off.studio_line() == (
        "studio off: `mailengine user add EMAIL --role admin` makes the first account "
        "(or set studio.enabled)"
    )
    async with client_of(off.app) as client:
        assert (await client.get("/studio/login")).status_code == 404

    enabled = _with(studio_settings, studio={"enabled": True})
    on = build_web_app(enabled, sqlite_database, SystemClock())
    assert on.studio_on
    assert on.studio_line() == (
        "studio on https://studio.shop.example/studio/ (accounts: `mailengine user list`)"
    )
    async with client_of(on.app) as client:
        assert (await client.get("/studio/login")).status_code == 200

    add_user(sqlite_database, "ada@shop.example", "admin")
    assert build_web_app(studio_settings, sqlite_database, SystemClock()).studio_on


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "[::1]"])
def test_loopback_addresses_are_served_over_plain_http(host: str) -> None:
    assert is_loopback(host)
    check_bind(_with(Settings(), http={"public_url": "http://127.0.0.1:8080"}), host)


def test_a_reachable_address_wants_https_or_the_override(
    studio_settings: Settings, sqlite_database: Database
) -> None:
    plain = _with(
        studio_settings,
        http={"host": "0.0.0.0", "public_url": "http://shop.example:8080"},
        studio={"enabled": True},
    )
    with pytest.raises(StudioBindError) as refused:
        build_web_app(plain, sqlite_database, SystemClock())
    assert str(refused.value).startswith(
        "the studio will not serve on 0.0.0.0 (http.host), an address other machines can reach, "
        "while http.public_url (http://shop.example:8080) is not https"
    )
    assert "set studio.allow_insecure_bind: true" in str(refused.value)
    assert not is_loopback("192.168.1.20") and not is_loopback("shop.example")

    behind_tls = _with(plain, http={"public_url": "https://shop.example"})
    assert build_web_app(behind_tls, sqlite_database, SystemClock()).studio_on
    overridden = _with(plain, studio={"enabled": True, "allow_insecure_bind": True})
    assert build_web_app(overridden, sqlite_database, SystemClock()).studio_on
    off = _with(plain, studio={"enabled": False})  # no studio, nothing to refuse
    assert not build_web_app(off, sqlite_database, SystemClock()).studio_on


def test_the_studio_command_refuses_while_the_studio_is_off(shop: Shop) -> None:
    off = shop.run("studio")
    assert off.code == 1
    assert off.err == (
        "error: the studio is off: `mailengine user add EMAIL --role admin` makes the first "
        "account (or set studio.enabled)\n"
    )
    shop.run("user", "add", "ada@shop.example", "--role", "admin", "--generate-password")
    exposed = shop.run("studio", env={"MAILENGINE_HTTP__HOST": "0.0.0.0"})
    assert exposed.code == 1
    assert "error: the studio will not serve on 0.0.0.0 (http.host)" in exposed.err


def test_the_studio_command_serves_pages_and_sends_nothing(shop: Shop) -> None:
    made = shop.run("user", "add", ADA, "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert made.code == 0, made.err
    with shop.database() as database:
        ids = add_customers(database, [("ben@example.com", "granted")])
        plan_marketing(database, ids, now=NOW)
    studio = subprocess.Popen(
        [sys.executable, "-m", "tests.cli.frozen_mailengine", NOW.isoformat(),
         "--config", str(shop.config), "studio", "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert studio.stdout is not None
        said = ""
        while "studio (sends nothing) on " not in said and studio.poll() is None:
            said += studio.stdout.readline()  # log lines, then what the command says
        line = next((x for x in said.splitlines() if x.startswith("studio (sends")), None)
        assert line is not None, said
        url = line.split(" on ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/studio/")
        with httpx.Client(base_url=url.removesuffix("/studio/"), timeout=PATIENCE) as client:
            assert client.get("/studio/login").status_code == 200
            assert log_in_sync(client).status_code == 303
            overview = client.get("/studio/")
            assert overview.status_code == 200
            assert "this process sends no mail and fires no schedules" in overview.text
        time.sleep(1)  # an engine would have claimed the queued mail by now
    finally:
        studio.send_signal(signal.SIGTERM)
        output, _ = studio.communicate(timeout=PATIENCE)
    assert studio.returncode == 0, output
    with shop.database() as database, database.session() as session:
        states = session.execute(select(outbox_table.c.state)).scalars().all()
    assert states == ["queued"]
    assert not (shop.folder / "var" / "mail").exists()


def log_in_sync(client: httpx.Client) -> httpx.Response:
    page = client.get("/studio/login")
    form = {"email": ADA, "password": PASSWORD, "form_token": form_token(page.text)}
    return client.post("/studio/login", data=form)
