"""broadcasts: the scheduled broadcasts and where their planning stands

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = mailengine.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "broadcast",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paused_state", sa.String(length=16), nullable=True),
        sa.Column("plan_at", utc, nullable=False),
        sa.Column("winner_at", utc, nullable=True),
        sa.Column("winner", sa.String(length=20), nullable=True),
        sa.Column("winner_note", sa.String(length=500), nullable=True),
        sa.Column("planned_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("cursor", mailengine.store.types.json_type(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", utc, nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("scheduled_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("paused_at", utc, nullable=True),
        sa.Column("cancelled_at", utc, nullable=True),
        sa.Column("planned_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_broadcast_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_state"))
    op.drop_table("broadcast")
