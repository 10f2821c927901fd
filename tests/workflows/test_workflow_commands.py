"""`mailengine validate` and `mailengine audience` as a user runs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailengine.cli.context import CliContext
from mailengine.cli.workflow_commands import audience, validate
from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from tests.workflows.conftest import NOW, SHIPPED_OK, invoke, populate


def test_validate_passes_the_shipped_workflows(project: Path) -> None:
    code, output = invoke(project, validate, [])
    assert code == 0
    first, rendered = output.splitlines()
    assert first == SHIPPED_OK
    assert rendered.startswith("rendered 14 send step(s) ")
    assert rendered.endswith(
        "no customers from the database (no database file at "
        f"{project / 'var' / 'test.db'}) and 20 built-in sample customers"
    )


def test_validate_reports_every_problem_and_exits_1(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    broken = project / "workflows" / "win-back.yaml"
    text = broken.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("wait: 7 days", "wait: 7 dayz").replace("win-back/coupon", "win-back/gone"),
        encoding="utf-8",
    )
    (project / "workflows" / "vip.yaml").write_text(
        (project / "workflows" / "vip.yaml")
        .read_text(encoding="utf-8")
        .replace("steps:", "stepz:"),
        encoding="utf-8",
    )
    code, output = invoke(project, validate, [])
    assert code == 1
    assert output.splitlines() == [
        "workflows/vip.yaml:1:1: missing 'steps': every workflow needs name, trigger and steps",
        "workflows/vip.yaml:8:1: unknown key 'stepz' in a workflow (did you mean 'steps'?); "
        "allowed: name, description, transactional, trigger, audience, exit_when, reenter, "
        "holdout, tracking, steps, public",
        "workflows/win-back.yaml:16:5: '7 dayz': unknown unit 'dayz': write a whole number and "
        "a unit: minutes, hours, days or weeks (e.g. '3 days')",
        "3 problem(s) in 2 file(s); 6 workflow(s) loaded",
    ]


def test_validate_named_files_only(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "workflows" / "vip.yaml").write_text("name: [\n", encoding="utf-8")
    code, output = invoke(project, validate, ["workflows/welcome.yaml", "--no-render"])
    assert (code, output) == (0, "1 workflow(s) OK: welcome\n")


def test_audience_counts_and_samples(project: Path) -> None:
    database = Database(f"sqlite:///{project / 'var' / 'test.db'}")
    database.upgrade()
    populate(database)
    database.dispose()
    code, output = invoke(project, audience, ["win-back", "--limit", "3", "--sql"])
    assert code == 0
    assert output.startswith("SELECT customer.id, customer.email")
    assert "customer.last_order_at < '2026-08-25 09:00:00.000000'" in output
    lines = output.splitlines()
    summary = next(line for line in lines if line.startswith("win-back: "))
    assert summary.endswith(
        "customers match now (consent, not suppressed; selected at every '0 9 * * *')"
    )
    assert sum("@example.org" in line for line in lines) == 3


def test_audience_of_an_unknown_workflow(project: Path) -> None:
    database = Database(f"sqlite:///{project / 'var' / 'test.db'}")
    database.upgrade()
    database.dispose()
    state = CliContext(config_path=project / "config.yaml", clock=FrozenClock(NOW))
    result = CliRunner().invoke(audience, ["win-bak"], obj=state)
    state.close()
    assert result.exit_code == 1
    assert str(result.exception).startswith("no workflow named 'win-bak'")


def test_validate_does_not_hang_on_a_template_bomb(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja folded `'a' * 10**9` into a constant while compiling: validate took minutes and
    gigabytes. Operators that can make large values are checked when rendering instead."""
    monkeypatch.chdir(project)
    template = project / "templates" / "win-back" / "we-miss-you.mjml"
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace(
            "</mj-body>",
            "<mj-section><mj-column><mj-text>{{ 'a' * 10**9 }}"
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
            "</mj-text></mj-column></mj-section></mj-body>",
            1,
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    invoke(project, validate, [])
    assert time.monotonic() - started < 20
