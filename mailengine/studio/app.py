"""Mounting the studio on the HTTP app: its routers under /studio, its static files, the pages
for refused requests.

To add a page: write a module with an `APIRouter` whose routes live under `/studio/...`,
declare `Depends(require_role(...))` on each, render with `render_page`, and add the router
to `ROUTERS` below. A route without `require_role` stops start-up (`UnguardedRouteError`).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from mailengine.studio import (
    account_list,
    audience_routes,
    broadcast_pages,
    customer_routes,
    editor_routes,
    login,
    overview,
    poll_report_page,
    prediction_pages,
    preview_routes,
    report_pages,
    simulation_page,
    ticket_actions,
    ticket_compose,
    ticket_replies,
    ticket_routes,
    ticket_snippets,
    workflow_pages,
)
from mailengine.studio.access import CsrfRefused, LoginRequired, RoleGuard, RoleRefused
from mailengine.studio.context import StudioContext
from mailengine.studio.navigation import served_pages
from mailengine.studio.rendering import STATIC, STATIC_PATH, render_page

ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    overview.router,
    workflow_pages.router,
    broadcast_pages.router,
    preview_routes.router,
    editor_routes.router,
    audience_routes.router,
    customer_routes.router,
    simulation_page.router,
    report_pages.router,
    prediction_pages.router,
    poll_report_page.router,
    ticket_routes.router,
    ticket_actions.router,
    ticket_replies.router,
    ticket_compose.router,
    ticket_snippets.router,
    account_list.router,
)
# Routes anyone may open: the login form and its post.
OPEN_PATHS = frozenset({login.LOGIN_PATH})


class UnguardedRouteError(RuntimeError):
    """A studio route that does not declare `require_role`: a page open to everyone."""


def mount_studio(app: FastAPI, context: StudioContext) -> None:
    """Serve the studio from `app` under /studio, with `context` on `app.state.studio`."""
    app.state.studio = context
    app.state.studio_pages = served_pages(ROUTERS)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="studio-static")
    for router in ROUTERS:
        check_guarded(router)
        app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(RoleRefused, _role_refused)
    app.add_exception_handler(CsrfRefused, _csrf_refused)


def check_guarded(router: APIRouter) -> None:
    """Every route of `router` lives under /studio/ and declares `require_role` (the login
    form excepted)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        if not route.path.startswith("/studio/"):
            raise UnguardedRouteError(f"studio route {route.path} is not under /studio/")
        if route.path in OPEN_PATHS:
            continue
        guards = [d for d in route.dependant.dependencies if isinstance(d.call, RoleGuard)]
        if not guards:
            raise UnguardedRouteError(
                f"studio route {route.path} does not declare Depends(require_role(...))"
            )


async def _to_login(request: Request, error: Exception) -> Response:
    """A browser goes to the login page (and back to the page it asked for, if it was only
    reading); a script gets a 401."""
    if "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse("log in first: /studio/login", status_code=401)
    if request.method not in ("GET", "HEAD"):
        return RedirectResponse(login.LOGIN_PATH, 303)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{login.LOGIN_PATH}?next={quote(target, safe='/')}", 303)


async def _role_refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, RoleRefused)
    allowed = ", ".join(sorted(error.allowed))
    return render_page(
        request,
        "refused.html",
        status_code=403,
        title="Not for your role",
        text=(
            f"You are logged in as {error.user.email} with the role {error.user.role}. "
            f"This page is for: {allowed}. Ask an admin if you need it."
        ),
    )


async def _csrf_refused(request: Request, error: Exception) -> Response:
    return render_page(
        request,
        "refused.html",
        status_code=403,
        title="This form has expired",
        text=(
            "The form was sent without the token of your session (it may be from an older "
            "page, or from another site). Nothing was changed. Go back, reload the page and "
            "send it again."
        ),
    )
