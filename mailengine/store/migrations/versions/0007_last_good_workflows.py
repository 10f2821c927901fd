"""last good workflow versions, their templates, broken workflow files

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:12:41.508114
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "template_version",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("files", mailengine.store.types.json_type(), nullable=False),
        sa.Column("stored_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "workflow_last_good",
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("templates", mailengine.store.types.json_type(), nullable=False),
        sa.Column("stored_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file"),
    )
    op.create_table(
        "broken_workflow_file",
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("workflow", sa.String(length=100), nullable=True),
        sa.Column("problems", mailengine.store.types.json_type(), nullable=False),
        sa.Column("running_version", sa.String(length=64), nullable=True),
        sa.Column(
            "running_stored_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("found_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file"),
    )


def downgrade() -> None:
    op.drop_table("broken_workflow_file")
    op.drop_table("workflow_last_good")
    op.drop_table("template_version")
