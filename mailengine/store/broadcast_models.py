"""The table of broadcasts that were scheduled: what was frozen, where planning stands.

A row exists from `mailengine broadcast schedule` (or the API) on. It keeps the broadcast's
source as scheduled, so editing the file afterwards changes nothing already under way; its
`state` and `cursor` say what the engine does next, so that a restart in the middle of
planning goes on where it stopped and two engines never plan the same broadcast at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime, json_type

# scheduled -> planning -> (testing -> planning the rest ->) planned; paused and cancelled
# from any of them; a paused broadcast resumes to the state it was paused in.
BROADCAST_STATES = ("scheduled", "planning", "testing", "planned", "paused", "cancelled")


class BroadcastRun(SQLModel, table=True):
    __tablename__ = "broadcast"

    name: str = Field(max_length=64, primary_key=True)
    origin: str = Field(max_length=8)  # file | api
    path: str | None = Field(default=None, max_length=500)
    version: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=16, index=True)
    paused_state: str | None = Field(default=None, max_length=16)
    plan_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    winner_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    winner: str | None = Field(default=None, max_length=20)
    winner_note: str | None = Field(default=None, max_length=500)
    planned_count: int = 0
    skipped_count: int = 0
    # Where planning stands: {"phase": ..., "after_id": ..., "last_id": ..., "chunks": ...}
    cursor: dict[str, Any] = Field(default_factory=dict, sa_column=Column(json_type()))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    note: str | None = Field(default=None, max_length=1000)
    scheduled_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    planned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
