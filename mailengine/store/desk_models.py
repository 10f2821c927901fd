"""Tables of the support desk: what people did on a ticket, and the saved replies.

`ticket_entry` is a ticket's history beside the customer's messages: the replies people sent
(with the outbox row that carries each), internal notes, and the changes (assigned, closed,
reopened). A reply or note made from a form carries the form's `request_key`, unique: the
same form sent twice (a double click, a retried POST) records, and sends, once.
`support_snippet` holds the saved replies, Jinja text rendered for the ticket's customer in
the same sandbox as templates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime

# reply: a person's answer to the customer; note: internal, never sent; the rest: changes.
ENTRY_KINDS = ("reply", "note", "assign", "close", "reopen")
# Where it was made: a studio page, an answer to the team notification, the command line,
# a poll answer that asks for a person to follow up.
ENTRY_SOURCES = ("studio", "email", "cli", "poll")


class TicketEntry(SQLModel, table=True):
    """One thing a person did on a ticket; `author` keeps their address if the account goes."""

    __tablename__ = "ticket_entry"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=8)
    via: str = Field(default="studio", max_length=8)
    author_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("studio_user.id", ondelete="SET NULL"), nullable=True),
    )
    author: str = Field(default="", max_length=320)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    request_key: str | None = Field(default=None, max_length=100, unique=True)
    outbox_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupportSnippet(SQLModel, table=True):
    """A saved reply: a name to pick it by and Jinja text (`{{ customer.first_name }}`...)."""

    __tablename__ = "support_snippet"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: str = Field(default="", max_length=320)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
