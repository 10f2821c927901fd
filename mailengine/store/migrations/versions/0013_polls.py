"""polls and questionnaires: every answer, the latest answer per customer and poll

`poll_answer` keeps one answer per customer, poll and mail; `poll_latest` the last one per
customer and poll, indexed on (poll, score) for audiences; `questionnaire_answer` one answer
per customer, questionnaire and question. New tables only: quick on any database size.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailengine.store.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = mailengine.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "poll_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("poll", sa.String(length=60), nullable=False),
        sa.Column("answer", sa.String(length=60), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("order_ref", sa.String(length=100), nullable=True),
        sa.Column("answered_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_poll_answer_customer_poll", "poll_answer", ["customer_id", "poll"])
    op.create_index("ix_poll_answer_poll_answered_at", "poll_answer", ["poll", "answered_at"])
    op.create_table(
        "poll_latest",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("poll", sa.String(length=60), nullable=False),
        sa.Column("answer", sa.String(length=60), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("answered_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "poll"),
    )
    op.create_index("ix_poll_latest_poll_score", "poll_latest", ["poll", "score"])
    op.create_table(
        "questionnaire_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire", sa.String(length=60), nullable=False),
        sa.Column("question", sa.String(length=60), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "questionnaire", "question"),
    )
    op.create_index(
        "ix_questionnaire_answer_questionnaire",
        "questionnaire_answer",
        ["questionnaire", "question"],
    )


def downgrade() -> None:
    op.drop_table("questionnaire_answer")
    op.drop_table("poll_latest")
    op.drop_table("poll_answer")
