"""Schema migrations: idempotent, and exactly what the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from mailengine.errors import StoreError
from mailengine.store.database import Database, include_object


def test_upgrade_twice_changes_nothing(database: Database) -> None:
    revision = database.current_revision()
    database.upgrade()
    assert database.current_revision() == revision
    database.check_schema()


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": include_object}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_an_empty_database_is_refused_with_advice(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="run `mailengine db upgrade`"):
        database.check_schema()
    database.dispose()


def test_an_unreachable_database_is_a_clear_error() -> None:
    database = Database("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot reach the database"):
        database.upgrade()
    database.dispose()
