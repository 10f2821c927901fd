"""the single customer view

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 13:55:23.357266
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mailengine.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One `create_table` per table with its columns and indexes, as alembic writes them:
    long, but a list to read against the models, not logic to split."""
    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("birthday_md", sa.Integer(), nullable=True),
        sa.Column("zip", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("consent_status", sa.String(length=16), nullable=False),
        sa.Column(
            "consent_updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("forgotten_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("total_spent_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "first_order_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_order_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("spent_365d_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "figures_as_of", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_birthday_md", ["birthday_md"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_city"), ["city"], unique=False)
        batch_op.create_index(
            "ix_customer_consent_last_order", ["consent_status", "last_order_at"], unique=False
        )
        batch_op.create_index(
            "ix_customer_consent_spent_365d", ["consent_status", "spent_365d_minor"], unique=False
        )
        batch_op.create_index(
            "ix_customer_consent_total_spent", ["consent_status", "total_spent_minor"], unique=False
        )
        batch_op.create_index("ix_customer_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_email_hash"), ["email_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_last_order_at"), ["last_order_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_zip"), ["zip"], unique=False)

    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address_hash"),
    )
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("recorded_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("wording", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_record_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_event_type_occurred", ["type", "occurred_at"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("store_location", sa.String(length=100), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("placed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expected_ship_date", sa.Date(), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_customer_placed", ["customer_id", "placed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_customer_placed")

    op.drop_table("orders")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_type_occurred")
        batch_op.drop_index(batch_op.f("ix_event_customer_id"))

    op.drop_table("event")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_record_customer_id"))

    op.drop_table("consent_record")
    op.drop_table("suppression")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_zip"))
        batch_op.drop_index(batch_op.f("ix_customer_last_order_at"))
        batch_op.drop_index(batch_op.f("ix_customer_email_hash"))
        batch_op.drop_index("ix_customer_created_at")
        batch_op.drop_index("ix_customer_consent_total_spent")
        batch_op.drop_index("ix_customer_consent_spent_365d")
        batch_op.drop_index("ix_customer_consent_last_order")
        batch_op.drop_index(batch_op.f("ix_customer_city"))
        batch_op.drop_index("ix_customer_birthday_md")

    op.drop_table("customer")
