"""api requests, tracked links, tracking events, mail preferences

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:17:22.854713
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One `create_table` per table with its columns and indexes, as alembic writes them:
    long, but a list to read against the models, not logic to split."""
    op.create_table(
        "api_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", mailengine.store.types.json_type(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client", "idempotency_key", name="uq_api_request_key"),
    )
    with op.batch_alter_table("api_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_request_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_api_request_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "mail_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "topic", name="uq_mail_preference_customer_topic"),
    )
    op.create_table(
        "tracked_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("tracked_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracked_link_outbox_id"), ["outbox_id"], unique=False)

    op.create_table(
        "tracking_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["tracked_link.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_event_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index("ix_tracking_event_outbox_kind", ["outbox_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_event_outbox_kind")
        batch_op.drop_index(batch_op.f("ix_tracking_event_occurred_at"))

    op.drop_table("tracking_event")
    with op.batch_alter_table("tracked_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracked_link_outbox_id"))

    op.drop_table("tracked_link")
    op.drop_table("mail_preference")
    with op.batch_alter_table("api_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_request_customer_id"))
        batch_op.drop_index(batch_op.f("ix_api_request_created_at"))

    op.drop_table("api_request")
