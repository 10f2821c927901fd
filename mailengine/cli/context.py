"""What every command gets: the settings (read once, on first use) and the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import click

from mailengine.clock import Clock, SystemClock
from mailengine.config import Settings, load_settings
from mailengine.store.database import Database


@dataclass
class CliContext:
    config_path: Path | None
    clock: Clock = field(default_factory=SystemClock)
    _settings: Settings | None = None
    _database: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def database(self) -> Database:
        """The database, unchecked (for `db upgrade`)."""
        if self._database is None:
            self._database = Database(self.settings.database.url, echo=self.settings.database.echo)
        return self._database

    def ready_database(self) -> Database:
        """The database, refused unless its schema is current."""
        self.database.check_schema()
        return self.database

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()


pass_context = click.make_pass_decorator(CliContext)


def configure_logging() -> None:
    """For the commands that keep running (`run`, `studio`): INFO to stderr, with the time;
    the libraries' chatter only from WARNING up."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("apscheduler", "alembic", "aiosmtpd", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
