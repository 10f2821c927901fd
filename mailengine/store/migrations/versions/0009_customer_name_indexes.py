"""indexes on customers' first and last names, for the studio's search by name

The studio finds customers whose name starts with what a person typed as a range over these
columns, so a search among a million customers reads only the rows it finds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customer_first_name", "customer", ["first_name"], unique=False)
    op.create_index("ix_customer_last_name", "customer", ["last_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customer_last_name", table_name="customer")
    op.drop_index("ix_customer_first_name", table_name="customer")
