"""Studio pages as HTML: one Jinja environment over `studio/pages/` (autoescaped, strict), and
`render_page`, which gives every page the user, the CSRF token and the navigation.

Pages run under a Content-Security-Policy that allows scripts, styles and images from the
studio itself only: no inline script, nothing from a CDN.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from mailengine.studio.access import CSRF_FIELD, StudioUser
from mailengine.studio.context import studio_context
from mailengine.studio.navigation import nav_links
from mailengine.web.pages import page_environment

PAGES = Path(__file__).parent / "pages"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/studio/static"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": PAGE_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}


def static_url(name: str) -> str:
    """`/studio/static/studio.css?v=1a2b3c4d`: a new URL whenever the file changes."""
    return f"{STATIC_PATH}/{name}?v={_fingerprint(name)}"


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


environment = page_environment(PAGES)
environment.globals["static_url"] = static_url


def render_page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """`template` (a file in `studio/pages/`, usually extending `layout.html`) with `values`
    and what the layout needs: `user` (a `StudioUser`, or None on the login page), `nav`,
    `csrf_token` and `csrf_field` (the hidden input every form carries), `studio` (the
    context: settings, whether this process sends mail). `headers` add to or replace the
    page headers (a preview page may allow frames, for example)."""
    context = studio_context(request)
    user: StudioUser | None = getattr(request.state, "studio_user", None)
    token = user.csrf_token if user is not None else ""
    served: frozenset[str] = request.app.state.studio_pages
    nav = nav_links(served, user.role, request.url.path) if user else []
    page_values = {
        "user": user,
        "nav": nav,
        "csrf_token": token,
        "csrf_field": Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">'),
        "studio": context,
        "shop_name": context.settings.sender.from_name,
        "path": request.url.path,
    }
    text = environment.get_template(template).render({**page_values, **values})
    return HTMLResponse(text, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
