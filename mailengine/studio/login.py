"""Logging in and out of the studio.

The login form carries a token of its own, also set in a short-lived cookie (there is no
session yet to hold one): a form posted from another site lacks the cookie and is refused.
Wrong address and wrong password get the same answer, as does an address under lockout.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailengine.store.users import rehash_password, user_by_email
from mailengine.studio.access import StudioUser, current_user, require_role
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.passwords import needs_rehash, password_matches, rehashed
from mailengine.studio.rendering import render_page
from mailengine.studio.sessions import (
    clear_session_cookie,
    end_session,
    set_session_cookie,
    start_session,
)
from mailengine.studio.throttle import LoginKeys, count_failure, forget_failures, locked_until
from mailengine.web.context import client_ip

LOGIN_PATH = "/studio/login"
HOME = "/studio/"
FORM_COOKIE = "mailengine_studio_login"
FORM_COOKIE_SECONDS = 3600
NO_MATCH = "The e-mail address and password do not match an account. Check both and try again."
EXPIRED_FORM = "The log-in form had expired. Please log in again."

router = APIRouter(include_in_schema=False)


@router.get(LOGIN_PATH)
def login_page(request: Request, next: str = HOME, out: bool = False) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = "You have logged out." if out else None
    return _login_form(request, next, notice=notice)


@router.post(LOGIN_PATH)
def log_in(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    context = studio_context(request)
    cookie = request.cookies.get(FORM_COOKIE, "")
    if not form_token or not secrets.compare_digest(form_token.encode(), cookie.encode()):
        return _login_form(request, next, email=email, error=EXPIRED_FORM, status_code=400)
    address = email.strip().lower()
    keys = LoginKeys.of(address, client_ip(request), context.settings.studio)
    now = context.clock.now()
    lockout = locked_until(context.database, keys, now)
    if lockout is not None:
        return _locked_out(request, next, email, lockout, now)
    with context.database.session() as session:
        user = user_by_email(session, address)
    # The password is checked first, with or without an account: the same work either way.
    if not password_matches(user.password_hash if user else None, password) or user is None:
        lockout = count_failure(context.database, keys, now, context.settings.studio)
        if lockout is not None:
            return _locked_out(request, next, email, lockout, now)
        return _login_form(request, next, email=email, error=NO_MATCH, status_code=401)
    forget_failures(context.database, keys)
    if needs_rehash(user.password_hash):
        _rehash(context, user.id, password)
    started = start_session(context, user.id)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(context, response, started.token)
    response.delete_cookie(FORM_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/studio/logout")
def log_out(request: Request, user: Annotated[StudioUser, Depends(require_role())]) -> Response:
    context = studio_context(request)
    end_session(context, request)
    response = RedirectResponse(f"{LOGIN_PATH}?out=1", status_code=303)
    clear_session_cookie(context, response)
    return response


def safe_next(target: str) -> str:
    """Only a path inside the studio: never another site (`//evil`, `/\\evil`)."""
    if not target.startswith("/studio/") or "//" in target or "\\" in target:
        return HOME
    if any(ord(char) < 0x20 for char in target):
        return HOME
    return target


def _login_form(
    request: Request,
    next: str,
    *,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render_page(
        request,
        "login.html",
        status_code=status_code,
        email=email,
        error=error,
        notice=notice,
        form_token=token,
        next=safe_next(next),
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=FORM_COOKIE_SECONDS,
        path=LOGIN_PATH,
        httponly=True,
        secure=studio_context(request).secure_cookies,
        samesite="lax",
    )
    return response


def _locked_out(
    request: Request, next: str, email: str, until: datetime, now: datetime
) -> Response:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    error = (
        "Too many failed log-ins for this address or from this network. "
        f"Please wait {wait} and try again."
    )
    response = _login_form(request, next, email=email, error=error, status_code=429)
    response.headers["Retry-After"] = str(max(1, math.ceil((until - now).total_seconds())))
    return response


def _rehash(context: StudioContext, user_id: int, password: str) -> None:
    with context.database.transaction() as session:
        rehash_password(session, user_id, rehashed(password))
