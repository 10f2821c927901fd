"""the engine's event queue in a table of its own: working an event no longer rewrites it

`event_pending` holds the ids of the events the engine has not worked yet: storing an event
adds its row, working it deletes the row. `event.processed_at` and its index go: marking an event
processed rewrote the whole row and all its index entries, which cost the database as much as
storing the event. Events not yet processed are queued from the old column first.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_pending",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.execute(
        "INSERT INTO event_pending (event_id) SELECT id FROM event WHERE processed_at IS NULL"
    )
    op.drop_index("ix_event_unprocessed", table_name="event")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and (bind.dialect.server_version_info or ()) < (3, 35):
        with op.batch_alter_table("event", schema=None) as batch_op:  # a copy of the table
            batch_op.drop_column("processed_at")
    else:  # in place, no copy
        op.execute("ALTER TABLE event DROP COLUMN processed_at")


def downgrade() -> None:
    op.add_column(
        "event",
        sa.Column("processed_at", mailengine.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute(
        "UPDATE event SET processed_at = received_at"
        " WHERE id NOT IN (SELECT event_id FROM event_pending)"
    )
    op.create_index("ix_event_unprocessed", "event", ["processed_at", "id"], unique=False)
    op.drop_table("event_pending")
