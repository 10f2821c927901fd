"""enrollments and workflow versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:17:22.174300
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_version",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "enrollment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=100), nullable=False),
        sa.Column("workflow_version", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step_id", sa.String(length=60), nullable=True),
        sa.Column("next_run_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("trigger_data", mailengine.store.types.json_type(), nullable=False),
        sa.Column("entered_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow", "customer_id", "occurrence", name="uq_enrollment_once"),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollment_customer", ["customer_id", "workflow", "state"], unique=False
        )
        batch_op.create_index("ix_enrollment_due", ["state", "next_run_at", "id"], unique=False)

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_spent_365d", ["spent_365d_minor"], unique=False)
        batch_op.create_index("ix_customer_total_spent", ["total_spent_minor"], unique=False)

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "processed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index("ix_event_unprocessed", ["processed_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_total_spent")
        batch_op.drop_index("ix_customer_spent_365d")

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_unprocessed")
        batch_op.drop_column("processed_at")

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_due")
        batch_op.drop_index("ix_enrollment_customer")

    op.drop_table("enrollment")
    op.drop_table("workflow_version")
