"""outbox and coupons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:05:32.776571
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One `create_table` per table with its columns and indexes, as alembic writes them:
    long, but a list to read against the models, not logic to split."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("workflow", sa.String(length=100), nullable=False),
        sa.Column("workflow_version", sa.String(length=64), nullable=True),
        sa.Column("step", sa.String(length=60), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("preheader", sa.String(length=1000), nullable=True),
        sa.Column("payload", mailengine.store.types.json_type(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("claimed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_reply", sa.String(length=1000), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_outbox_state_due", ["state", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_workflow"), ["workflow"], unique=False)

    op.create_table(
        "coupon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("redeemed_order", sa.String(length=100), nullable=True),
        sa.Column("redeemed_channel", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("outbox_id"),
    )
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupon_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_customer_id"))

    op.drop_table("coupon")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_workflow"))
        batch_op.drop_index("ix_outbox_state_due")
        batch_op.drop_index(batch_op.f("ix_outbox_customer_id"))

    op.drop_table("outbox")
