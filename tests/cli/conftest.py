"""The `mailengine` command as people run it: a config file, a SQLite database, a frozen clock."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailengine.cli.main import main
from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Shop:
    """A shop's folder: config.yaml, the shipped workflows and templates, var/shop.db."""

    folder: Path
    clock: FrozenClock

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'var' / 'shop.db'}"

    def run(
        self, *args: str, env: dict[str, str | None] | None = None, stdin: str | None = None
    ) -> Outcome:
        """`mailengine --config config.yaml ARGS` through its entry point, stdout not a
        terminal (as in a pipe), `stdin` as what is typed; exit code, stdout and stderr."""
        return mailengine(["--config", str(self.config), *args], self.clock, env, stdin)

    @contextmanager
    def database(self) -> Iterator[Database]:
        database = Database(self.url)
        try:
            yield database
        finally:
            database.dispose()

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path


def mailengine(
    argv: Sequence[str],
    clock: FrozenClock,
    env: dict[str, str | None] | None = None,
    stdin: str | None = None,
) -> Outcome:
    runner = CliRunner()
    with runner.isolation(input=stdin, env=env) as (stdout, stderr, _):
        try:
            main(list(argv), clock=clock)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    shutil.copytree(REPO / "workflows", tmp_path / "workflows")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    for asked in ("polls", "questionnaires"):
        shutil.copytree(REPO / asked, tmp_path / asked)
    (tmp_path / "config.yaml").write_text(
        f"database:\n  url: 'sqlite:///{tmp_path / 'var' / 'shop.db'}'\n"
        f"paths: {{workflows: '{tmp_path / 'workflows'}', templates: '{tmp_path / 'templates'}', "
        f"var: '{tmp_path / 'var'}'}}\n"
        "timezone: Europe/Berlin\n",
        encoding="utf-8",
    )
    found = Shop(tmp_path, FrozenClock(NOW))
    upgraded = found.run("db", "upgrade")
    assert upgraded.code == 0, upgraded.err
    return found
