"""`mailengine broadcast report` through its entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mailengine.clock import FrozenClock
from mailengine.store.broadcast_runs import broadcast_table, schedule
from mailengine.store.database import Database
from tests.broadcasts import report_shop
from tests.broadcasts.report_shop import NAME
from tests.cli.conftest import Outcome, mailengine
from tests.conftest import NOW

FILE = f"""
name: {NAME}
template: newsletter/newsletter
subject: December sale
send_at: "2026-11-13 10:00"
ab_test:
  variants:
    - {{name: A, share: 10%}}
    - {{name: B, share: 10%, subject: Only this week}}
  winner: {{metric: METRIC, after: 4 hours}}
"""


@pytest.fixture
def config(database: Database, tmp_path: Path) -> Path:
    report_shop.build(database)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database:\n  url: '{database.url}'\ntimezone: Europe/Berlin\n"
        f"currency: EUR\nhttp:\n  attribution_days: 5\n"
        f"paths:\n  broadcasts: '{tmp_path / 'broadcasts'}'\n",
        encoding="utf-8",
    )
    return path


def report(config: Path, *args: str) -> Outcome:
    return mailengine(["--config", str(config), "broadcast", "report", *args], FrozenClock(NOW))


def table_row(output: str, label: str) -> list[str]:
    """The cells of the table line that starts with `label`, split on runs of 2+ spaces."""
    for line in output.splitlines():
        if line.strip().startswith(label + "  "):
            return [cell for cell in line.strip().split("  ") if cell.strip()][1:]
    raise AssertionError(f"no line for {label!r} in:\n{output}")


def test_the_table_per_variant_the_verdict_and_the_days(config: Path) -> None:
    outcome = report(config, NAME)
    assert outcome.code == 0, outcome.err
    out = outcome.out
    assert "figures per variant, rates with 95% intervals (per delivered)" in out
    header = table_row(out, "figure")
    assert [cell.strip() for cell in header] == ["A", "B", "B test", "B rest"]
    assert [c.strip() for c in table_row(out, "planned")] == ["8", "12", "8", "4"]
    assert [c.strip() for c in table_row(out, "delivered")] == ["4", "6", "5", "1"]
    assert [c.strip() for c in table_row(out, "bounced hard")] == ["2", "0", "0", "0"]
    assert [c.strip() for c in table_row(out, "bounced soft")] == ["1", "0", "0", "0"]
    assert [c.strip() for c in table_row(out, "click rate")] == [
        "25.0% (4.6–69.9)",  # 1 of 4 delivered, Wilson
        "33.3% (9.7–70.0)",
        "40.0% (11.8–76.9)",
        "0.0% (0.0–79.3)",
    ]
    assert [c.strip() for c in table_row(out, "revenue")] == [
        "€50.00", "€170.00", "€130.00", "€40.00",
    ]  # fmt: skip
    assert table_row(out, "revenue per recipient")[0].strip() == "€12.50 (€0.00 to €37.00)"
    assert table_row(out, "revenue per recipient")[3].strip() == (
        "€40.00 (one recipient: no interval)"
    )
    assert [c.strip() for c in table_row(out, "contact pressure")] == ["1", "0", "0", "0"]
    assert [c.strip() for c in table_row(out, "cancelled")] == ["0", "1", "0", "1"]
    assert (
        "B went to the rest. By click rate (no winner rule; --metric chooses another), test "
        "cells only: B leads on click rate with 40.0% (against A 25.0%, difference +15.0 points "
        "(-38.1 to +57.2), at 95% confidence), but the difference is not significant: B is "
        "picked on its point estimate."
    ) in " ".join(out.split())
    # The series spans four days of hours: shown per day, in the shop's zone.
    assert "Per day since the first send (Europe/Berlin)" in out
    assert [c.strip() for c in table_row(out, "2026-11-13")] == ["12", "6", "3", "2"]
    assert [c.strip() for c in table_row(out, "2026-11-17")] == ["0", "0", "0", "1"]


def test_json_by_hour_and_by_revenue(config: Path) -> None:
    outcome = report(config, NAME, "--json", "--by", "hour", "--metric", "revenue")
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = json.loads(outcome.out)
    assert (document["broadcast"], document["attribution_days"]) == (NAME, 5)
    assert document["now"] == "2026-11-23T10:00:00+01:00"
    a, b = document["variants"]["A"], document["variants"]["B"]
    assert (a["sent"], a["delivered"], a["bounced"], a["revenue"]) == (6, 4, 3, 50.0)
    assert a["skip_reasons"] == {"contact pressure": 1}
    assert a["click_rate"]["estimate"] == 0.25
    assert list(b["phases"]) == ["test", "rest"]
    assert b["phases"]["rest"]["revenue_per_recipient"] == {
        "estimate": 40.0, "low": 0.0, "high": None,
    }  # fmt: skip
    winner = document["winner"]
    assert (winner["metric"], winner["chosen_by"]) == ("revenue", "option")
    assert (winner["variant"], winner["went"]) == ("B", "B")
    assert winner["significant"] is False and winner["tie"] is False
    assert winner["values"]["B"]["estimate"] == 26.0  # 130.00 over 5 delivered, in euros
    assert winner["differences"]["A"]["estimate"] == 13.5
    series = document["series"]
    assert series["by"] == "hour"
    first = series["points"][0]
    assert first == {
        "start": "2026-11-13T10:00:00+01:00", "sent": 11, "opened": 2, "clicked": 2,
        "conversions": 0,
    }  # fmt: skip
    assert sum(point["conversions"] for point in series["points"]) == 4


def test_an_unknown_name_is_refused_with_the_known_ones(config: Path) -> None:
    outcome = report(config, "december-sail")
    assert outcome.code == 1
    assert outcome.err.strip() == (
        "error: no broadcast named 'december-sail' has mail in the outbox "
        "(did you mean 'december-sale'?); with mail: december-sale"
    )
    bad = report(config, NAME, "--by", "week")
    assert bad.code == 2 and "'week' is not one of 'hour', 'day'" in bad.err


def test_the_metric_and_the_winner_come_from_the_broadcast(
    config: Path, database: Database
) -> None:
    folder = config.parent / "broadcasts"
    folder.mkdir()
    (folder / f"{NAME}.yaml").write_text(FILE.replace("METRIC", "opens"), encoding="utf-8")
    from_file = report(config, NAME)
    assert from_file.code == 0, from_file.err
    assert "B went to the rest. By open rate, the broadcast's winner rule, test cells only: B " in (
        " ".join(from_file.out.split())
    )
    # Once scheduled, the source frozen then counts (the file may have changed since), and
    # the winner is the one the engine chose.
    with database.transaction() as session:
        schedule(
            session,
            name=NAME,
            origin="file",
            path=f"broadcasts/{NAME}.yaml",
            version="v1",
            source=FILE.replace("METRIC", "conversions"),
            plan_at=report_shop.T0,
            now=report_shop.T0,
            by=None,
        )
        chosen = update(broadcast_table).where(broadcast_table.c.name == NAME).values(winner="A")
        session.execute(chosen)
    scheduled = report(config, NAME, "--json")
    winner = json.loads(scheduled.out)["winner"]
    assert (winner["metric"], winner["chosen_by"], winner["went"]) == (
        "conversions", "winner rule", "A",
    )  # fmt: skip
    assert winner["variant"] == "B" and winner["tie"] is False  # 40.0 % against 25.0 %
