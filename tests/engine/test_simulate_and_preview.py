"""`simulate` tells the truth and `preview --step` has one meaning, driven as the README shows.

Customers and orders come in through `mailengine import`; the commands run on a frozen clock
(Monday 2026-11-23 09:00 UTC, 10:00 in the shop's zone, Europe/Berlin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailengine.cli.context import CliContext
from mailengine.cli.data_commands import db, import_group
from mailengine.cli.engine_commands import preview, simulate_command
from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from mailengine.store.suppressions import suppress
from tests.engine.harness import REPO

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CUSTOMERS = """email,first_name,locale,timezone,consent,consent_at,birthday
ann@example.com,Ann,en_GB,Europe/London,granted,2025-01-10T10:00:00+01:00,
bob@example.com,Bob,de_DE,Europe/Berlin,withdrawn,2026-05-02T10:00:00+02:00,
carl@example.com,Carl,de_DE,Europe/Berlin,granted,2025-01-10T10:00:00+01:00,
dora@example.com,Dora,en_US,America/New_York,granted,2025-01-10T10:00:00+01:00,1990-12-01
eve@example.com,,en_GB,Europe/London,granted,2025-01-10T10:00:00+01:00,
"""
ORDERS = """external_id,email,amount,placed_at,status
A-1,ann@example.com,59.90,2026-11-11T12:00:00+01:00,paid
C-1,carl@example.com,80.00,2026-08-01T12:00:00+02:00,delivered
E-1,eve@example.com,25.00,2026-08-20T12:00:00+02:00,delivered
"""


def invoke(config: Path, command: click.Command, args: list[str], now: datetime = NOW) -> Result:
    state = CliContext(config_path=config, clock=FrozenClock(now))
    try:
        return CliRunner().invoke(command, args, obj=state)
    finally:
        state.close()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A config with the shipped workflows and templates, and the customers above."""
    return make_shop(tmp_path, "")


def make_shop(tmp_path: Path, extra_config: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'shop.db'}'}}\n"
        f"paths: {{workflows: '{REPO / 'workflows'}', templates: '{REPO / 'templates'}', "
        f"var: '{tmp_path}'}}\n" + extra_config,
        encoding="utf-8",
    )
    assert invoke(config, db, ["upgrade"]).exit_code == 0
    for kind, text in (("customers", CUSTOMERS), ("orders", ORDERS)):
        data = tmp_path / f"{kind}.csv"
        data.write_text(text, encoding="utf-8")
        imported = invoke(config, import_group, [kind, str(data)])
        assert imported.exit_code == 0, imported.output
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    with database.transaction() as session:
        suppress(session, "carl@example.com", "hard-bounce", NOW)
    database.dispose()
    return config


def simulated(config: Path, *args: str, now: datetime = NOW) -> list[str]:
    result = invoke(config, simulate_command, list(args), now)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def mail_lines(lines: list[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines if " send " in line]


def test_simulate_says_plainly_why_a_customer_gets_nothing(shop: Path) -> None:
    """Today it listed win-back mails for a customer without consent and without orders."""
    bob = simulated(shop, "win-back", "--customer", "bob@example.com")
    assert mail_lines(bob) == []
    assert bob[2:] == [
        "leaves when order.placed arrives (no such event is simulated)",
        "  no mail",
        "why:",
        "  2026-11-24 09:00 to 2026-12-23 09:00 (30 times, as at the first): no marketing "
        "consent (withdrawn on 2026-05-02); not in the audience: orders_count is 0, the "
        "audience wants >= 1; last_order_at is not set (no orders), the audience wants 90+ "
        "days ago",
        "after 30 days: not enrolled",
    ]
    carl = simulated(shop, "win-back", "--customer", "carl@example.com", "--days", "2")
    assert carl[5] == (
        "  2026-11-24 09:00 to 2026-11-25 09:00 (2 times, as at the first): "
        "suppressed: hard bounce on 2026-11-23"
    )
    ann = simulated(shop, "win-back", "--customer", "ann@example.com", "--days", "1")
    assert ann[5] == (
        "  2026-11-24 08:00: not in the audience: last_order_at is 12 days ago (2026-11-11), "
        "the audience wants 90+ days ago"
    )


def test_a_schedule_sends_at_its_next_fires_not_now(shop: Path) -> None:
    """eve is in win-back's audience now: the mail goes at the next 09:00 in Berlin (08:00
    her time); ann only once her last order is 90 days old, and then the cap of 180 days."""
    eve = simulated(shop, "win-back", "--customer", "eve@example.com")
    assert eve[:2] == [
        "win-back for eve@example.com, 30 days from 2026-11-23 09:00 (times in Europe/London):",
        "trigger: schedule '0 9 * * *' in Europe/Berlin; 30 fire(s), the first 2026-11-24 08:00",
    ]
    assert mail_lines(eve) == [
        "2026-11-24 08:00 send 1 (step 1) win-back/we-miss-you We miss you",
        "2026-12-01 08:00 send 2 (step 3) win-back/coupon Half price on your favourites",
    ]
    ann = simulated(shop, "win-back", "--customer", "ann@example.com", "--days", "120")
    assert mail_lines(ann) == [
        "2027-02-10 08:00 send 1 (step 1) win-back/we-miss-you Ann, we miss you",
        "2027-02-17 08:00 send 2 (step 3) win-back/coupon Half price on your favourites, Ann",
    ]
    assert "  2027-02-11 08:00 to 2027-02-16 08:00 (6 times, as at the first): still in this " \
        "workflow (entered on 2027-02-10)" in ann  # fmt: skip
    assert "  2027-02-17 08:00 to 2027-03-23 08:00 (35 times, as at the first): entered on " \
        "2027-02-10 (reenter: after 180 days)" in ann  # fmt: skip


def test_a_yearly_trigger_fires_on_every_birthday_at_the_customers_time(shop: Path) -> None:
    """Today one 400-day simulation fired once, at the start."""
    dora = simulated(shop, "birthday", "--customer", "dora@example.com", "--days", "400")
    assert dora[1] == (
        "trigger: yearly on their birthday at 09:00 their time; next 2026-12-01 09:00"
    )
    assert mail_lines(dora) == [
        "2026-12-01 09:00 send 1 (step 1) birthday/happy-birthday Happy birthday, Dora!",
        "2027-12-01 09:00 send 1 (step 1) birthday/happy-birthday Happy birthday, Dora!",
    ]
    ann = simulated(shop, "birthday", "--customer", "ann@example.com", "--days", "400")
    assert ann[1] == "trigger: yearly on their birthday: they have none, it never fires"
    assert mail_lines(ann) == []


def test_contact_pressure_defers_marketing_mail(tmp_path: Path) -> None:
    """At 22:30 her time, in quiet hours until 08:00: the hello waits; the next mail waits
    for the frequency cap of one mail a week."""
    pressure = (
        "contact_pressure: {max_marketing_emails: 1, per_days: 7, quiet_hours: '21:00-08:00'}\n"
    )
    config = make_shop(tmp_path, pressure)
    evening = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    ann = simulated(config, "welcome", "--customer", "ann@example.com", now=evening)
    assert mail_lines(ann) == [
        "2026-11-24 08:00 send 1 (step 1) welcome/hello Welcome to Example Shop, Ann",
        "2026-12-01 08:00 send 2 (step 3) welcome/our-favourites Our favourites, picked for you",
    ]
    decisions = "\n".join(ann)
    assert "step 1: deferred to 2026-11-24T08:00:00+00:00 (quiet hours)" in decisions
    assert "step 3: deferred to 2026-12-01T08:00:00+00:00 (frequency cap of 1 per 7 days)" in (
        decisions
    )


def test_preview_step_is_the_nth_send_and_step_id_an_id(shop: Path, tmp_path: Path) -> None:
    args = ["win-back", "--customer", "eve@example.com", "--format", "text"]
    second = invoke(shop, preview, [*args, "--step", "2"])
    assert second.exit_code == 0, second.output
    assert "PREVIEW-CODE" in second.stdout
    assert second.stderr == ""
    by_id = invoke(shop, preview, [*args, "--step-id", "3"])
    assert by_id.stdout == second.stdout
    choices = "1 (step id 1, win-back/we-miss-you), 2 (step id 3, win-back/coupon)"
    third = invoke(shop, preview, [*args, "--step", "3"])
    assert third.exit_code == 1
    assert str(third.exception) == (f"workflow win-back has 2 send step(s), not 3: {choices}")
    wait = invoke(shop, preview, [*args, "--step-id", "2"])
    assert wait.exit_code == 1
    assert str(wait.exception) == (
        f"workflow win-back has no send step with id '2'; sends: {choices}"
    )
    assert invoke(shop, preview, [*args, "--step", "0"]).exit_code == 2


def test_preview_warns_when_the_customer_is_not_in_the_audience(shop: Path) -> None:
    result = invoke(
        shop, preview, ["win-back", "--customer", "bob@example.com", "--format", "text"]
    )
    assert result.exit_code == 0
    assert "Wir vermissen dich, Bob" in result.stdout  # Bob reads German
    assert result.stderr == (
        "warning: bob@example.com is not in win-back's audience now: no marketing consent "
        "(withdrawn on 2026-05-02); not in the audience: orders_count is 0, the audience "
        "wants >= 1; last_order_at is not set (no orders), the audience wants 90+ days ago\n"
    )
