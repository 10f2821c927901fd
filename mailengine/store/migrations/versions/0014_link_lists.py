"""tracked links stored once per list of links, not once per message and link

`link_list` holds a message's tracked links in order under the digest of the list; every
message with the same list (a broadcast's copies) shares the row, and `customer_id` names the
one customer whose mail carries it while only one does. `tracking_event.link_list_id` and
`link_position` say which link of which list was clicked. `tracked_link` stays for the links
of mail sent before. A new table and columns added in place: quick on any database size.

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
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("link_list", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_list_customer_id"), ["customer_id"], unique=False)
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_list_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("link_position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.drop_column("link_position")
        batch_op.drop_column("link_list_id")
    op.drop_table("link_list")
