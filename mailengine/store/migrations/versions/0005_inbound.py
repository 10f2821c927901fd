"""inbound mail, support tickets and their threads, acknowledged senders, bounces

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:24:48.297360
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One `create_table` per table with its columns and indexes, as alembic writes them:
    long, but a list to read against the models, not logic to split."""
    op.create_table(
        "support_sender",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "last_acknowledged_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("acknowledgements", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash"),
    )
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("opened_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_message_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "acknowledged_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_address_state", ["address", "state"], unique=False)
        batch_op.create_index("ix_ticket_customer_state", ["customer_id", "state"], unique=False)
        batch_op.create_index(
            "ix_ticket_state_last_message", ["state", "last_message_at"], unique=False
        )

    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("envelope_from", sa.String(length=1000), nullable=True),
        sa.Column("envelope_to", mailengine.store.types.json_type(), nullable=False),
        sa.Column("received_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=1000), nullable=True),
        sa.Column("classification", sa.String(length=16), nullable=True),
        sa.Column("rules", mailengine.store.types.json_type(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("processed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_message_message_id", ["message_id", "from_address"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inbound_message_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index("ix_inbound_message_state", ["state", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inbound_message_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "ticket_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("ticket_thread", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_thread_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "bounce",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("diagnostic", sa.String(length=1000), nullable=True),
        sa.Column("occurred_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbound_message_id"], ["inbound_message.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inbound_message_id", "address_hash", name="uq_bounce_message_address"),
    )
    with op.batch_alter_table("bounce", schema=None) as batch_op:
        batch_op.create_index("ix_bounce_address_kind", ["address_hash", "kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_bounce_outbox_id"), ["outbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bounce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bounce_outbox_id"))
        batch_op.drop_index("ix_bounce_address_kind")

    op.drop_table("bounce")
    with op.batch_alter_table("ticket_thread", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_thread_ticket_id"))

    op.drop_table("ticket_thread")
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_ticket_id"))
        batch_op.drop_index("ix_inbound_message_state")
        batch_op.drop_index(batch_op.f("ix_inbound_message_received_at"))
        batch_op.drop_index("ix_inbound_message_message_id")

    op.drop_table("inbound_message")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_state_last_message")
        batch_op.drop_index("ix_ticket_customer_state")
        batch_op.drop_index("ix_ticket_address_state")

    op.drop_table("ticket")
    op.drop_table("support_sender")
