"""Alembic environment: runs migrations on the connection mailengine hands it."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON, create_engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import mailengine.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from mailengine.store.database import include_object

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own_connection:
            _run(own_connection)
        return
    _run(connection)


def _render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Write column types as portable SQLAlchemy types in generated migrations."""
    if kind != "type":
        return False
    if isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.Text()"
    if isinstance(item, JSON):
        autogen_context.imports.add("import mailengine.store.types")
        return "mailengine.store.types.json_type()"
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
