"""The studio's top navigation: every page in its place, shown once its route is served.

A page author adds the page's router to `ROUTERS` in `studio/app.py`; its entry here (add one
for a new section) then appears for the roles listed: a role that may not open a page does not
see its link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute

from mailengine.studio.access import ROLES, Role

EVERYONE: frozenset[Role] = frozenset(ROLES)
MARKETING: frozenset[Role] = frozenset({"admin", "marketer"})
SUPPORT: frozenset[Role] = frozenset({"admin", "support"})


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    current: bool


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Overview", "/studio/", EVERYONE),
    NavItem("Workflows", "/studio/workflows", MARKETING),
    NavItem("Broadcasts", "/studio/broadcasts", EVERYONE),
    NavItem("Preview", "/studio/preview", MARKETING),
    NavItem("Templates", "/studio/templates", MARKETING),
    NavItem("Audiences", "/studio/audiences", MARKETING),
    NavItem("Customers", "/studio/customers", EVERYONE),
    NavItem("Simulation", "/studio/simulation", MARKETING),
    NavItem("Reports", "/studio/reports", MARKETING),
    NavItem("Predictions", "/studio/predictions", MARKETING),
    NavItem("Polls", "/studio/polls", MARKETING),
    NavItem("Tickets", "/studio/tickets", SUPPORT),
    NavItem("Accounts", "/studio/accounts", frozenset({"admin"})),
)


def served_pages(routers: Iterable[APIRouter]) -> frozenset[str]:
    """The paths of NAVIGATION that these routers answer with a page (GET)."""
    wanted = {item.path for item in NAVIGATION}
    served = {
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }
    return frozenset(served & wanted)


def nav_links(served: frozenset[str], role: Role, path: str) -> list[NavLink]:
    """The links `role` may follow, the one of `path` (or of the section it is in) current."""
    links = []
    for item in NAVIGATION:
        if item.path not in served or role not in item.roles:
            continue
        if item.path.endswith("/"):
            current = path == item.path
        else:
            current = path == item.path or path.startswith(item.path + "/")
        links.append(NavLink(item.label, item.path, current))
    return links
