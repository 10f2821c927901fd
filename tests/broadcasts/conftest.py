"""Broadcast files in a scratch folder, and a shop with the shipped workflows, templates and
example broadcasts that `mailengine` runs on with a frozen clock (see tests.cli.conftest)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mailengine.broadcasts.loader import load_broadcasts
from mailengine.clock import FrozenClock
from tests.cli.conftest import Shop
from tests.conftest import NOW
from tests.engine.crash_peers import free_port

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
name: sale
template: newsletter/newsletter
subject: "Hello {{ customer.first_name | default('there') }}"
send_at: "2027-01-14 09:00"
"""

WriteBroadcast = Callable[[str, str], Path]


@pytest.fixture
def write_broadcast(tmp_path: Path) -> WriteBroadcast:
    """Write YAML text as tmp_path/broadcasts/<file name>; returns its path."""
    folder = tmp_path / "broadcasts"
    folder.mkdir(exist_ok=True)

    def write(file_name: str, text: str) -> Path:
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def problems(tmp_path: Path) -> list[str]:
    """Every problem of the files in tmp_path/broadcasts, shown relative to tmp_path."""
    result = load_broadcasts([tmp_path / "broadcasts"], tmp_path)
    return [str(problem) for problem in result.problems]


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    """The repository's workflows, templates and broadcasts beside a config whose mail goes to
    the capture server `run` starts (var/mail/new), on a free loopback port; the commands run
    in the shop's folder, as its people run them."""
    folder = tmp_path / "shop"
    for name in ("workflows", "templates", "broadcasts", "polls", "questionnaires"):
        shutil.copytree(REPO / name, folder / name)
    (folder / "config.yaml").write_text(
        f"database: {{url: 'sqlite:///{folder / 'var' / 'shop.db'}'}}\n"
        f"smtp: {{host: 127.0.0.1, port: {free_port()}, capture: true}}\n"
        "http: {enabled: false}\n"
        "timezone: Europe/Berlin\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(folder)
    found = Shop(folder, FrozenClock(NOW))
    upgraded = found.run("db", "upgrade")
    assert upgraded.code == 0, upgraded.err
    return found
