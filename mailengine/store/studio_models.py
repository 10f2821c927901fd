"""Tables of the studio: the people who may log in, their sessions, and failed log-ins.

`studio_user` holds an Argon2id hash, never a password. `studio_session` is keyed by the
sha256 of the cookie's random token, so a copy of the database opens no session; each row
carries its own CSRF token. `studio_login_failure` counts failed log-ins per address and per
client address, so a lockout survives a restart and holds across engine processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from mailengine.store.types import UTCDateTime

STUDIO_ROLES = ("admin", "marketer", "support")


class StudioUserRow(SQLModel, table=True):
    """A person who may log in to the studio, with one role."""

    __tablename__ = "studio_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    password_changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StudioSessionRow(SQLModel, table=True):
    """One logged-in browser: found by the sha256 of its cookie, ended by logout or expiry."""

    __tablename__ = "studio_session"

    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("studio_user.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class StudioLoginFailureRow(SQLModel, table=True):
    """Failed log-ins under one key (`address:<sha256>` or `ip:<address>`) and the lockout."""

    __tablename__ = "studio_login_failure"

    key: str = Field(max_length=100, primary_key=True)
    failures: int = 0
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
