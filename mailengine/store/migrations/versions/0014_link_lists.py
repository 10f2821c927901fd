"""tracked links stored once per list of links, not once per message and link

`link_list` holds a message's tracked links in order under the digest of the list; every
message with the same list (a broadcast's copies) shares the row, and `outbox.link_list` names
it. `tracking_event.link_position` says which link of the list was clicked. `tracked_link`
stays for the links of mail sent before. Columns are added in place (no table copy on
SQLite): quick on any outbox size.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=12), nullable=False),
        sa.Column("urls", mailengine.store.types.json_type(), nullable=False),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_list", sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_link_list"), ["link_list"], unique=False)
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.drop_column("link_position")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_link_list"))
        batch_op.drop_column("link_list")
    op.drop_table("link_list")
