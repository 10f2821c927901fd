"""A shop for the preview and editor tests: the shipped workflows and templates copied into
the test's folder (the editor writes them), customers and orders imported as a shop would
(`mailengine import`), on a frozen clock (Monday 2026-11-23 09:00 UTC)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from mailengine.cli.context import CliContext
from mailengine.cli.data_commands import db, import_group
from mailengine.clock import FrozenClock
from mailengine.config import Settings, load_settings
from mailengine.store.database import Database
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import Workflow

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CUSTOMERS = """email,first_name,last_name,locale,timezone,consent,consent_at
ann@example.com,Ann,Archer,en_GB,Europe/London,granted,2025-01-10T10:00:00+01:00
bob@example.com,Bob,Baker,de_DE,Europe/Berlin,withdrawn,2026-05-02T10:00:00+02:00
"""
ORDERS = """external_id,email,amount,placed_at,status
A-1,ann@example.com,59.90,2026-11-11T12:00:00+01:00,paid
"""


@dataclass
class PreviewShop:
    folder: Path
    config: Path
    settings: Settings
    database: Database

    def workflows(self) -> dict[str, Workflow]:
        folder = self.settings.paths.workflows
        return load_workflows([folder], folder.parent).workflows

    def customer_id(self, email: str) -> int:
        from mailengine.store.customers import get_customer

        with self.database.session() as session:
            customer = get_customer(session, email)
        assert customer is not None and customer.id is not None
        return customer.id


def make_preview_shop(folder: Path) -> PreviewShop:
    shutil.copytree(REPO / "workflows", folder / "workflows")
    shutil.copytree(REPO / "templates", folder / "templates")
    for asked in ("polls", "questionnaires"):
        shutil.copytree(REPO / asked, folder / asked)
    config = folder / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{folder / 'shop.db'}'}}\n"
        f"paths: {{workflows: '{folder / 'workflows'}', templates: '{folder / 'templates'}', "
        f"var: '{folder}'}}\n",
        encoding="utf-8",
    )
    _invoke(config, db, ["upgrade"])
    for kind, text in (("customers", CUSTOMERS), ("orders", ORDERS)):
        data = folder / f"{kind}.csv"
        data.write_text(text, encoding="utf-8")
        _invoke(config, import_group, [kind, str(data)])
    settings = load_settings(config)
    return PreviewShop(folder, config, settings, Database(settings.database.url))


def _invoke(config: Path, command: object, args: list[str]) -> None:
    import click

    assert isinstance(command, click.Command)
    state = CliContext(config_path=config, clock=FrozenClock(NOW))
    try:
        result = CliRunner().invoke(command, args, obj=state)
    finally:
        state.close()
    assert result.exit_code == 0, result.output
