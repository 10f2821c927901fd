"""The command line as a user meets it: help, version, exit codes, imports, demo data."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailengine import __version__
from mailengine.cli.main import main
from mailengine.clock import Clock, FrozenClock
from mailengine.dev import demo
from mailengine.store.database import Database
from tests.conftest import NOW


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], clock: Clock | None = None
) -> tuple[int, str, str]:
    """`mailengine` with `argv`, its clock frozen at NOW unless another is given."""
    try:
        main(argv, clock or FrozenClock(NOW))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("database:\n  url: sqlite:///var/test.db\n", encoding="utf-8")
    return path


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("db", "import", "demo-data", "status"):
        assert command in out
    code, out, _ = run(["--version"], capsys)
    assert (code, out.strip()) == (0, f"mailengine, version {__version__}")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["no-such-command"], capsys)
    assert code == 2
    assert "No such command" in err
    code, _, err = run(["demo-data", "--customers", "zero"], capsys)
    assert code == 2


def test_user_errors_exit_1_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("smtp:\n  prot: 25\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mailengine", "--config", str(bad), "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown key 'prot' in smtp (did you mean 'port'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_refuse_a_database_that_was_not_upgraded(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--config", str(config), "status"], capsys)
    assert code == 1
    assert "run `mailengine db upgrade`" in err


def test_upgrade_demo_data_and_status(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--config", str(config), "db", "upgrade"], capsys)[0] == 0
    code, out, _ = run(["--config", str(config), "db", "upgrade"], capsys)
    assert (code, "schema is current" in out) == (0, True)
    args = ["--config", str(config), "demo-data", "--customers", "40", "--seed", "3", "--if-empty"]
    code, out, _ = run(args, capsys)
    assert code == 0 and out.startswith("stored 40 demo customers and ")
    code, out, _ = run(args, capsys)
    assert code == 0 and "40 customers already stored" in out
    code, out, _ = run(["--config", str(config), "status"], capsys)
    assert code == 0
    assert "customers" in out and "40" in out and "revenue from the top 20 %" in out
    for state in ("queued", "sending", "sent", "deferred", "failed", "suppressed"):
        assert f"outbox {state}" in out


def test_import_reports_rejections_and_exits_1(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["--config", str(config), "db", "upgrade"], capsys)
    data = tmp_path / "customers.csv"
    data.write_text("email,first_name\na@example.com,A\nbroken,B\nc@example.com,C\n")
    rejects = tmp_path / "rejects.csv"
    args = ["--config", str(config), "import", "customers", str(data), "--rejects", str(rejects)]
    code, out, err = run(args, capsys)
    assert code == 1
    assert f"{data}:3: email: 'broken' is not a valid e-mail address" in err
    assert out.strip() == f"{data}: 2 inserted, 0 updated, 1 rejected"
    assert (
        rejects.read_text().splitlines()[1]
        == "broken,B,email: 'broken' is not a valid e-mail address"
    )
    code, out, _ = run(args[:-2], capsys)
    assert out.strip() == f"{data}: 0 inserted, 2 updated, 1 rejected"


def test_import_of_a_clean_file_exits_0(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["--config", str(config), "db", "upgrade"], capsys)
    data = tmp_path / "orders.jsonl"
    data.write_text(
        '{"external_id": "W1", "email": "a@example.com", "amount": "5.00", '
        '"placed_at": "2026-01-01T10:00:00+00:00"}\n'
    )
    code, out, _ = run(["--config", str(config), "import", "orders", str(data)], capsys)
    assert (code, out.strip()) == (0, f"{data}: 1 inserted, 0 updated, 0 rejected")


def test_demo_data_is_deterministic(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    first = list(demo.generate(60, seed=5, now=now))
    again = list(demo.generate(60, seed=5, now=now))
    other = list(demo.generate(60, seed=6, now=now))
    assert first == again
    assert first != other
    paths = demo.write_csv(60, 5, now, tmp_path / "a")
    paths_again = demo.write_csv(60, 5, now, tmp_path / "b")
    for one, two in zip(paths, paths_again, strict=True):
        assert one.read_bytes() == two.read_bytes()


def test_demo_data_looks_like_a_shop(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    database = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    database.upgrade()
    customers, orders = demo.load(database, 1000, seed=1, now=now)
    from mailengine.store.summary import summarize

    with database.session() as session:
        summary = summarize(session, now)
    database.dispose()
    assert (summary.customers, summary.orders) == (customers, orders)
    assert 3.5 < orders / customers < 7
    assert set(summary.orders_by_channel) == {"online", "store"}
    assert summary.orders_by_channel["store"] > 0.2 * orders
    assert summary.top_fifth_revenue_share > 0.5  # the heavy-spending top 20 %
    assert summary.lapsed_buyers > 0.15 * summary.buyers
    assert summary.buyers < customers  # some never ordered
    assert summary.consent["granted"] > 0.7 * customers
    assert summary.consent["withdrawn"] > 0
