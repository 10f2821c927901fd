"""event, simulate and preview from the command line."""

from __future__ import annotations

import email
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailengine.store.coupons import CouponOffer, coupon_table, issue_for_send
from mailengine.store.events import event_table
from mailengine.store.outbox import outbox_table, plan_sends
from mailengine.store.records import PlannedSend
from tests.conftest import NOW
from tests.databases import opened_database
from tests.engine.harness import REPO
from tests.test_cli import run


@pytest.fixture
def config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'shop.db'}'}}\n"
        f"paths: {{workflows: '{REPO / 'workflows'}', templates: '{REPO / 'templates'}', "
        f"var: '{tmp_path}'}}\n",
        encoding="utf-8",
    )
    assert run(["--config", str(path), "db", "upgrade"], capsys)[0] == 0
    data = tmp_path / "customers.csv"
    data.write_text(
        "email,first_name,locale,timezone,consent,attributes.shirt_size\n"
        "ann@example.com,Ann,en_GB,Europe/London,granted,M\n",
        encoding="utf-8",
    )
    assert run(["--config", str(path), "import", "customers", str(data)], capsys)[0] == 0
    return path


def test_event_records_once_per_key(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config), "event", "cart.abandoned", "--customer", "Ann@Example.com"]
    code, out, _ = run([*args, "--data", '{"order": "W1"}', "--key", "k1"], capsys)
    assert code == 0
    assert "recorded: cart.abandoned" in out
    code, out, _ = run([*args, "--key", "k1"], capsys)
    assert (code, "was recorded before" in out) == (0, True)
    code, _, err = run([*args[:-1], "nobody@example.com"], capsys)
    assert code == 1
    assert "no customer has the address nobody@example.com" in err
    code, _, err = run([*args, "--data", "[1]"], capsys)
    assert code == 2
    shop = f"sqlite:///{config.parent / 'shop.db'}"
    with opened_database(shop) as database, database.session() as session:
        assert session.execute(select(func.count()).select_from(event_table)).scalar_one() == 1


def test_simulate_shows_the_mails_and_branch_decisions(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["--config", str(config), "simulate", "welcome", "--customer", "ann@example.com"],
        capsys,
    )
    assert code == 0, out
    assert "Welcome to Example Shop, Ann" in out
    assert "Our favourites, picked for you" in out
    assert "10 % off your first order" in out
    assert "condition true" in out
    assert "after 30 days: completed" in out
    shop = f"sqlite:///{config.parent / 'shop.db'}"
    # nothing was planned or sent
    with opened_database(shop) as database, database.session() as session:
        assert session.execute(select(func.count()).select_from(outbox_table)).scalar_one() == 0


def test_preview_renders_exactly_what_would_be_sent_without_a_real_coupon(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "coupon.eml"
    code, out, _ = run(
        [
            "--config", str(config), "preview", "win-back", "--step", "2",
            "--customer", "ann@example.com", "--format", "eml", "-o", str(target),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, out
    message = email.message_from_bytes(target.read_bytes(), policy=default_policy)
    assert message["Subject"] == "Half price on your favourites, Ann"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",))
    assert text is not None
    assert "PREVIEW-CODE" in text.get_content()
    code, out, _ = run(
        ["--config", str(config), "preview", "win-back", "--step", "9", "--customer",
         "ann@example.com"],
        capsys,
    )  # fmt: skip
    assert code == 1
    shop = f"sqlite:///{config.parent / 'shop.db'}"
    with opened_database(shop) as database, database.session() as session:
        assert session.execute(select(func.count()).select_from(coupon_table)).scalar_one() == 0


def test_a_coupon_is_looked_up_and_redeemed_once(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with opened_database(f"sqlite:///{config.parent / 'shop.db'}") as database:
        now = NOW  # the command line's clock too (tests.test_cli.run)
        with database.transaction() as session:
            plan_sends(
                session,
                [
                    PlannedSend(
                        "k",
                        "win-back",
                        "3",
                        None,
                        "ann@example.com",
                        "win-back/coupon",
                        "s",
                        "<k@shop.example>",
                    )
                ],
                now,
            )
            outbox_id = session.execute(select(outbox_table.c.id)).scalar_one()
            offer = CouponOffer(50, None, None, now + timedelta(days=14))
            code = issue_for_send(session, outbox_id, None, offer, now).code
    code_shown, out, _ = run(["--config", str(config), "coupon", "show", code.lower()], capsys)
    assert code_shown == 0
    assert f"{code}: 50 % off" in out
    assert "not used" in out
    redeem = ["--config", str(config), "coupon", "redeem", code, "--order", "S-77"]
    assert run(redeem, capsys)[0] == 0
    refused, _, err = run(redeem, capsys)
    assert refused == 1
    assert "already used" in err
