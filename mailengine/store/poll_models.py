"""Tables of polls and questionnaires: every answer given, and the latest per customer and poll.

`poll_answer` keeps one answer per customer, poll and mail: answering again from the same mail
replaces it (the NPS report counts each mail's answer once). `poll_latest` is the answer a
customer gave last to each poll, keyed by (customer, poll), with the numeric `score` of scale
and star answers indexed per poll: `polls.delivery_nps: {lte: 6}` in an audience is a probe of
that index. `questionnaire_answer` holds one answer per customer, questionnaire and question.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, SmallInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime

NAME_LENGTH = 60  # poll, questionnaire, question and answer names
COMMENT_LENGTH = 2000  # longest comment or free-text answer kept


def _customer_column() -> Column[int]:
    return Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)


def _outbox_column() -> Column[int]:
    return Column(Integer, ForeignKey("outbox.id", ondelete="SET NULL"), nullable=True)


class PollAnswer(SQLModel, table=True):
    """One customer's answer to one poll in one mail (`outbox_id`: the mail, None if unknown)."""

    __tablename__ = "poll_answer"
    __table_args__ = (
        Index("ix_poll_answer_customer_poll", "customer_id", "poll"),
        Index("ix_poll_answer_poll_answered_at", "poll", "answered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=_customer_column())
    poll: str = Field(max_length=NAME_LENGTH)
    answer: str = Field(max_length=NAME_LENGTH)
    score: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    outbox_id: int | None = Field(default=None, sa_column=_outbox_column())
    # The order the mail asked about (its external id), for the report per product category.
    order_ref: str | None = Field(default=None, max_length=100)
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PollLatest(SQLModel, table=True):
    """The answer a customer gave last to a poll: what audiences, branches and templates read."""

    __tablename__ = "poll_latest"
    __table_args__ = (Index("ix_poll_latest_poll_score", "poll", "score"),)

    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    )
    poll: str = Field(primary_key=True, max_length=NAME_LENGTH)
    answer: str = Field(max_length=NAME_LENGTH)
    score: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class QuestionnaireAnswer(SQLModel, table=True):
    """One customer's answer to one question of a questionnaire; answering again replaces it."""

    __tablename__ = "questionnaire_answer"
    __table_args__ = (
        UniqueConstraint("customer_id", "questionnaire", "question"),
        Index("ix_questionnaire_answer_questionnaire", "questionnaire", "question"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=_customer_column())
    questionnaire: str = Field(max_length=NAME_LENGTH)
    question: str = Field(max_length=NAME_LENGTH)
    answer: str = Field(default="", sa_column=Column(Text, nullable=False))
    score: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    outbox_id: int | None = Field(default=None, sa_column=_outbox_column())
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
