"""predicted figures on customers, and the shop's own figures

Each customer gets what the nightly prediction job computes (probability of being active,
churn risk, expected orders in 90 days, predicted next order, predicted value over 365 days,
best hour to send) and when; NULL means not predicted yet. Columns are added in place (no
table copy on SQLite), so the migration is quick on a million customers. `shop_figures`
holds figures of the whole shop by name, such as its best hour to send.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = mailengine.store.types.UTCDateTime(timezone=True)
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("p_active", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("churn_risk", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("expected_orders_90d", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("predicted_next_order_at", utc, nullable=True))
        batch_op.add_column(sa.Column("predicted_value_365d_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("best_send_hour", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("predicted_at", utc, nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_churn_risk"), ["churn_risk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_predicted_next_order_at"),
            ["predicted_next_order_at"],
            unique=False,
        )
    op.create_table(
        "shop_figures",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", mailengine.store.types.json_type(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("shop_figures")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_predicted_next_order_at"))
        batch_op.drop_index(batch_op.f("ix_customer_churn_risk"))
        batch_op.drop_column("predicted_at")
        batch_op.drop_column("best_send_hour")
        batch_op.drop_column("predicted_value_365d_minor")
        batch_op.drop_column("predicted_next_order_at")
        batch_op.drop_column("expected_orders_90d")
        batch_op.drop_column("churn_risk")
        batch_op.drop_column("p_active")
