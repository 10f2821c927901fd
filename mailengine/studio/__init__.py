"""The studio: the marketer's browser view of workflows, templates, customers and reports.

Served by `mailengine run` and `mailengine studio` from the same FastAPI app as the API,
under /studio, to logged-in users with a role (admin, marketer, support). It owns its pages
(`pages/`), static files (`static/`), access (users, sessions, CSRF, login throttling) and
the rules for when it is served. It may import `engine`, `web`, `store`, `workflows`,
`render`, the names `outbound` exports and the shared vocabulary; only `cli` imports it.

A page: an `APIRouter` in a module of this package, routes under `/studio/...` that declare
`Depends(require_role(...))` and answer with `render_page(request, "name.html", ...)`, its
router added to `ROUTERS` in `studio/app.py`.
"""

from mailengine.studio.access import ROLES, Role, StudioUser, require_role
from mailengine.studio.app import mount_studio
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.enabling import StudioBindError, check_bind, studio_enabled
from mailengine.studio.rendering import render_page

__all__ = [
    "ROLES",
    "Role",
    "StudioBindError",
    "StudioContext",
    "StudioUser",
    "check_bind",
    "mount_studio",
    "render_page",
    "require_role",
    "studio_context",
    "studio_enabled",
]
