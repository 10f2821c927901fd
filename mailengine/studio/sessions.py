"""Server-side sessions: a random token in an HttpOnly, SameSite=Lax cookie (Secure when the
public URL is https), its sha256 and a CSRF token of its own in the database.

A session ends at logout, `studio.session_hours` after the log-in, or after
`studio.idle_minutes` without a request; changing or removing a user's password ends theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response

from mailengine.store.users import (
    SessionRecord,
    close_session,
    close_stale_sessions,
    open_session,
    session_by_token_hash,
    touch_session,
)
from mailengine.studio.context import StudioContext

COOKIE = "mailengine_studio"
COOKIE_PATH = "/studio"
# Seen-at is written at most this often, so that pages and their fetches do not each write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class StartedSession:
    token: str
    csrf_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(context: StudioContext, user_id: int) -> StartedSession:
    """A new session for the user (and stale ones of anyone cleared away)."""
    settings = context.settings.studio
    now = context.clock.now()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with context.database.transaction() as session:
        close_stale_sessions(session, now, now - timedelta(minutes=settings.idle_minutes))
        expires = now + timedelta(hours=settings.session_hours)
        open_session(session, user_id, token_hash(token), csrf, now, expires)
    return StartedSession(token, csrf)


def live_session(context: StudioContext, request: Request) -> SessionRecord | None:
    """The request's session if its cookie names one that has neither expired nor idled."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    now = context.clock.now()
    with context.database.session() as session:
        found = session_by_token_hash(session, digest)
    if found is None:
        return None
    idle = timedelta(minutes=context.settings.studio.idle_minutes)
    if found.expires_at <= now or found.last_seen_at + idle <= now:
        with context.database.transaction() as session:
            close_session(session, digest)
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        with context.database.transaction() as session:
            touch_session(session, digest, now)
    return found


def end_session(context: StudioContext, request: Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        with context.database.transaction() as session:
            close_session(session, token_hash(token))


def set_session_cookie(context: StudioContext, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(context.settings.studio.session_hours * 3600),
        path=COOKIE_PATH,
        httponly=True,
        secure=context.secure_cookies,
        samesite="lax",
    )


def clear_session_cookie(context: StudioContext, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, secure=context.secure_cookies, samesite="lax"
    )
