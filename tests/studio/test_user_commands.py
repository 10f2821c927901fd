"""`mailengine user add | list | remove | password` through the command's entry point."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailengine.store.users import session_table, user_by_email
from mailengine.studio.passwords import password_matches
from mailengine.studio.sessions import start_session
from tests.cli.conftest import Shop
from tests.studio.conftest import PASSWORD

ADA = "ada@shop.example"


def _stored_hash(shop: Shop, email: str) -> str | None:
    with shop.database() as database, database.session() as session:
        found = user_by_email(session, email)
    return None if found is None else found.password_hash


def _sessions(shop: Shop) -> int:
    with shop.database() as database, database.session() as session:
        return int(session.execute(select(func.count()).select_from(session_table)).scalar_one())


@pytest.mark.usefixtures("production_password_hashing")
def test_a_password_typed_twice_is_stored_as_an_argon2id_hash(shop: Shop) -> None:
    added = shop.run(
        "user", "add", " Ada@Shop.example ", "--role", "admin", stdin=f"{PASSWORD}\n" * 2
    )
    assert added.code == 0, added.err
    assert added.out == (
        "Password (at least 12 characters): \nRepeat the password: \n"
        f"added {ADA} (admin)\n"
        "the studio is on from the next start of `mailengine run` or `mailengine studio`\n"
    )
    assert PASSWORD not in added.out
    stored = _stored_hash(shop, ADA)
    # Argon2id with RFC 9106's second recommended option: 3 passes over 64 MiB, 4 lanes.
    assert stored is not None and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    assert password_matches(stored, PASSWORD)

    listed = json.loads(shop.run("user", "list", "--format", "json").out)
    assert listed["users"] == [
        {
            "email": ADA,
            "role": "admin",
            "created_at": "2026-11-23T10:00:00+01:00",
            "password_changed_at": "2026-11-23T10:00:00+01:00",
        }
    ]


def test_two_different_typed_passwords_make_no_account(shop: Shop) -> None:
    typed = shop.run(
        "user", "add", ADA, "--role", "admin", stdin=f"{PASSWORD}\nsomething else entirely\n"
    )
    assert typed.code != 0
    assert "do not match" in typed.out + typed.err
    assert _stored_hash(shop, ADA) is None


def test_refusals_name_what_is_wrong(shop: Shop) -> None:
    short = shop.run("user", "add", ADA, "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.code == 1
    assert "error: the password has 5 characters; it needs at least 12" in short.err
    bad_address = shop.run("user", "add", "ada at shop", "--role", "admin", "--generate-password")
    assert bad_address.code == 1 and "is not a valid e-mail address" in bad_address.err
    bad_role = shop.run("user", "add", ADA, "--role", "owner", "--generate-password")
    assert bad_role.code == 2 and "'owner' is not one of 'admin', 'marketer', 'support'" in (
        bad_role.err
    )
    assert shop.run("user", "list").out.count("none yet") == 1

    first = shop.run("user", "add", ADA, "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert first.code == 0, first.err
    again = shop.run("user", "add", ADA, "--role", "marketer", "--generate-password")
    assert again.code == 1
    assert f"error: {ADA} has an account already: `mailengine user password {ADA}`" in again.err
    gone = shop.run("user", "remove", "nobody@shop.example")
    assert gone.code == 1 and "no studio account has the address nobody@shop.example" in gone.err


def test_a_generated_password_is_shown_once_and_if_missing_keeps_the_account(
    shop: Shop,
) -> None:
    made = shop.run("user", "add", ADA, "--role", "admin", "--if-missing", "--generate-password")
    assert made.code == 0, made.err
    password = next(
        line.removeprefix("password: ")
        for line in made.out.splitlines()
        if line.startswith("password: ")
    )
    assert len(password) == 20
    stored = _stored_hash(shop, ADA)
    assert password_matches(stored, password)

    kept = shop.run("user", "add", ADA, "--role", "admin", "--if-missing", "--generate-password")
    assert kept.code == 0, kept.err
    assert kept.out == (
        f"{ADA} has an account already; nothing changed (`mailengine user password {ADA} "
        "--generate-password` sets a new password)\n"
    )
    assert _stored_hash(shop, ADA) == stored


def test_a_new_password_or_removing_the_account_ends_its_sessions(shop: Shop) -> None:
    shop.run("user", "add", ADA, "--role", "marketer", "--password-stdin", stdin=PASSWORD)
    _log_in_twice(shop)
    assert _sessions(shop) == 2

    shop.clock.advance(timedelta(hours=1))
    changed = shop.run("user", "password", ADA, "--password-stdin", stdin="a new long passphrase\n")
    assert changed.code == 0, changed.err
    assert "its sessions have ended" in changed.out
    assert _sessions(shop) == 0
    assert password_matches(_stored_hash(shop, ADA), "a new long passphrase")
    assert not password_matches(_stored_hash(shop, ADA), PASSWORD)
    listed = json.loads(shop.run("user", "list", "--format", "json").out)["users"][0]
    assert listed["password_changed_at"] == "2026-11-23T11:00:00+01:00"

    _log_in_twice(shop)
    removed = shop.run("user", "remove", ADA)
    assert removed.code == 0, removed.err
    assert _sessions(shop) == 0 and _stored_hash(shop, ADA) is None


def _log_in_twice(shop: Shop) -> None:
    """Two browsers logged in, as the login page opens sessions."""
    from mailengine.config import load_settings
    from mailengine.studio.context import StudioContext

    with shop.database() as database:
        with database.session() as session:
            found = user_by_email(session, ADA)
        assert found is not None
        context = StudioContext(load_settings(shop.config), database, shop.clock, b"k" * 32)
        for _ in range(2):
            start_session(context, found.id)
