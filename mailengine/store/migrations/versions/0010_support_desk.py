"""support desk: assignees and waiting clocks on tickets, notes and replies, saved replies

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:04:15.303171
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ASSIGNEE_KEY = "fk_ticket_assignee_id_studio_user"


def upgrade() -> None:
    op.create_table(
        "support_snippet",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "ticket_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=100), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["studio_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
    )
    with op.batch_alter_table("ticket_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_entry_ticket_id"), ["ticket_id"], unique=False)

    utc = mailengine.store.types.UTCDateTime(timezone=True)
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("awaiting_since", utc, nullable=True))
        batch_op.add_column(sa.Column("first_response_at", utc, nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index("ix_ticket_state_awaiting", ["state", "awaiting_since"], unique=False)
        batch_op.create_foreign_key(
            _ASSIGNEE_KEY, "studio_user", ["assignee_id"], ["id"], ondelete="SET NULL"
        )
    # Tickets open before the desk existed have waited since their last message at least.
    op.execute("UPDATE ticket SET awaiting_since = last_message_at WHERE state = 'open'")


def downgrade() -> None:
    op.execute("UPDATE ticket SET state = 'open' WHERE state = 'pending'")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint(_ASSIGNEE_KEY, type_="foreignkey")
        batch_op.drop_index("ix_ticket_state_awaiting")
        batch_op.drop_index(batch_op.f("ix_ticket_assignee_id"))
        batch_op.drop_column("first_response_at")
        batch_op.drop_column("awaiting_since")
        batch_op.drop_column("assignee_id")

    with op.batch_alter_table("ticket_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_entry_ticket_id"))

    op.drop_table("ticket_entry")
    op.drop_table("support_snippet")
