"""studio users, their sessions, failed log-ins

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:15:01.473447
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "studio_login_failure",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "last_failure_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("locked_until", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "studio_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "password_changed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "studio_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_seen_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("expires_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["studio_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("studio_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_studio_session_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_studio_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("studio_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studio_session_user_id"))
        batch_op.drop_index(batch_op.f("ix_studio_session_expires_at"))

    op.drop_table("studio_session")
    op.drop_table("studio_user")
    op.drop_table("studio_login_failure")
