"""Who may see a studio page: `require_role(...)`, the dependency every studio route declares.

It finds the request's session (else: to the login page), checks the CSRF token of every
request that changes something (a form's `csrf_token` field or an `X-CSRF-Token` header) and
then the role, and returns the `StudioUser`. `mount_studio` refuses to start with a studio
route that does not declare it, so no page is left open by mistake.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from mailengine.studio.context import studio_context
from mailengine.studio.sessions import live_session

Role = Literal["admin", "marketer", "support"]
ROLES: tuple[Role, ...] = get_args(Role)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class StudioUser:
    """The logged-in person of a request (plain data: pages render from it)."""

    id: int
    email: str
    role: Role
    csrf_token: str


class LoginRequired(Exception):
    """No live session: browsers go to the login page, scripts get a 401."""


class CsrfRefused(Exception):
    """A request that changes something came without its session's CSRF token."""


class RoleRefused(Exception):
    """A logged-in user whose role may not open the page."""

    def __init__(self, user: StudioUser, allowed: frozenset[Role]) -> None:
        super().__init__(f"{user.email} ({user.role}) may not open this page")
        self.user = user
        self.allowed = allowed


class RoleGuard:
    """The dependency `require_role` makes; one class, so `mount_studio` can find it."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> StudioUser:
        user = await run_in_threadpool(current_user, request)
        if user is None:
            raise LoginRequired()
        request.state.studio_user = user
        if request.method not in SAFE_METHODS:
            await check_csrf(request, user)
        if user.role not in self.roles:
            raise RoleRefused(user, self.roles)
        return user


def require_role(*roles: Role) -> RoleGuard:
    """`user: StudioUser = Depends(require_role("admin", "marketer"))`; no roles: any user."""
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}: roles are {', '.join(ROLES)}")
    return RoleGuard(frozenset(roles or ROLES))


def current_user(request: Request) -> StudioUser | None:
    """The user of the request's live session, if any (reads the database: call it from a
    thread, as `require_role` does)."""
    found = live_session(studio_context(request), request)
    if found is None:
        return None
    role = found.user.role
    if role not in ROLES:
        return None
    return StudioUser(found.user.id, found.user.email, role, found.csrf_token)


async def check_csrf(request: Request, user: StudioUser) -> None:
    """The header (fetch) or the form field must carry the session's token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise CsrfRefused()


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")
