"""Queries of the studio's people: users, their sessions, and the failed log-ins counted per key.

Passwords arrive here already hashed and sessions already reduced to the sha256 of their
token: the store never sees a secret it could leak. Every function takes its session and the
time; what it returns is plain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlmodel import Session

from mailengine.store.database import upsert_insert
from mailengine.store.studio_models import StudioLoginFailureRow, StudioSessionRow, StudioUserRow

user_table = StudioUserRow.__table__  # type: ignore[attr-defined]
session_table = StudioSessionRow.__table__  # type: ignore[attr-defined]
failure_table = StudioLoginFailureRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    role: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    """A live session with its user, as one read gives them."""

    token_hash: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user: UserRecord


@dataclass(frozen=True)
class FailureRecord:
    key: str
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


def _user(row: object) -> UserRecord:
    u = user_table.c
    values = row._mapping  # type: ignore[attr-defined]
    return UserRecord(
        id=values[u.id],
        email=values[u.email],
        role=values[u.role],
        password_hash=values[u.password_hash],
        created_at=values[u.created_at],
        password_changed_at=values[u.password_changed_at],
    )


def count_users(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(user_table)).scalar_one())


def user_by_email(session: Session, email: str) -> UserRecord | None:
    row = session.execute(select(user_table).where(user_table.c.email == email)).first()
    return None if row is None else _user(row)


def list_users(session: Session) -> list[UserRecord]:
    rows = session.execute(select(user_table).order_by(user_table.c.email))
    return [_user(row) for row in rows]


def add_user(
    session: Session, email: str, role: str, password_hash: str, now: datetime
) -> UserRecord:
    """A new user; the caller checks first that the address is free (the unique index
    refuses a second one all the same)."""
    new_id = session.execute(
        insert(user_table)
        .values(
            email=email,
            role=role,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )
        .returning(user_table.c.id)
    ).scalar_one()
    return UserRecord(int(new_id), email, role, password_hash, now, now)


def remove_user(session: Session, email: str) -> bool:
    """Remove the user and, with them, every session of theirs; False if there was none."""
    found = user_by_email(session, email)
    if found is None:
        return False
    session.execute(delete(session_table).where(session_table.c.user_id == found.id))
    session.execute(delete(user_table).where(user_table.c.id == found.id))
    return True


def set_password_hash(session: Session, user_id: int, password_hash: str, now: datetime) -> None:
    """A new password hash; every session of the user ends with the old password."""
    session.execute(
        update(user_table)
        .where(user_table.c.id == user_id)
        .values(password_hash=password_hash, password_changed_at=now)
    )
    session.execute(delete(session_table).where(session_table.c.user_id == user_id))


def rehash_password(session: Session, user_id: int, password_hash: str) -> None:
    """The same password under today's hashing parameters (sessions stay)."""
    session.execute(
        update(user_table).where(user_table.c.id == user_id).values(password_hash=password_hash)
    )


def open_session(
    session: Session,
    user_id: int,
    token_hash: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    session.execute(
        insert(session_table).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


def session_by_token_hash(session: Session, token_hash: str) -> SessionRecord | None:
    s = session_table.c
    row = session.execute(
        select(s.token_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, user_table)
        .join(user_table, user_table.c.id == s.user_id)
        .where(s.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionRecord(
        token_hash=row.token_hash,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        user=_user(row),
    )


def touch_session(session: Session, token_hash: str, now: datetime) -> None:
    session.execute(
        update(session_table)
        .where(session_table.c.token_hash == token_hash)
        .values(last_seen_at=now)
    )


def close_session(session: Session, token_hash: str) -> None:
    session.execute(delete(session_table).where(session_table.c.token_hash == token_hash))


def close_stale_sessions(session: Session, now: datetime, idle_since: datetime) -> int:
    """Delete sessions past their expiry or idle since before `idle_since`; how many."""
    s = session_table.c
    done = session.execute(
        delete(session_table).where((s.expires_at <= now) | (s.last_seen_at < idle_since))
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def login_failures(session: Session, keys: Iterable[str]) -> list[FailureRecord]:
    f = failure_table.c
    rows = session.execute(select(failure_table).where(f.key.in_(list(keys))))
    return [FailureRecord(r.key, r.failures, r.last_failure_at, r.locked_until) for r in rows]


def login_failures_for_update(
    session: Session, keys: Iterable[str], now: datetime
) -> list[FailureRecord]:
    """The rows of `keys`, made (with no failures) where missing and locked until the
    transaction ends: two failed log-ins at once both count."""
    wanted = sorted(set(keys))
    insert_row = upsert_insert(session)(failure_table)
    session.execute(
        insert_row.on_conflict_do_nothing(index_elements=["key"]),
        [{"key": key, "failures": 0, "last_failure_at": now} for key in wanted],
    )
    f = failure_table.c
    rows = session.execute(
        select(failure_table).where(f.key.in_(wanted)).order_by(f.key).with_for_update()
    )
    return [FailureRecord(r.key, r.failures, r.last_failure_at, r.locked_until) for r in rows]


def save_login_failure(session: Session, record: FailureRecord) -> None:
    session.execute(
        update(failure_table)
        .where(failure_table.c.key == record.key)
        .values(
            failures=record.failures,
            last_failure_at=record.last_failure_at,
            locked_until=record.locked_until,
        )
    )


def forget_login_failures(session: Session, keys: Iterable[str]) -> None:
    session.execute(delete(failure_table).where(failure_table.c.key.in_(list(keys))))
