"""The accounts page (admins only): who may log in, with which role. Accounts are made and
removed with `mailengine user ...`; the page shows them, without their password hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.store.users import list_users
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import studio_context
from mailengine.studio.rendering import render_page

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class AccountRow:
    email: str
    role: str
    created_at: datetime
    password_changed_at: datetime


@router.get("/studio/accounts")
def account_list(
    request: Request, user: Annotated[StudioUser, Depends(require_role("admin"))]
) -> Response:
    context = studio_context(request)
    zone = context.settings.zone
    with context.database.session() as session:
        found = list_users(session)
    rows = [
        AccountRow(
            item.email,
            item.role,
            item.created_at.astimezone(zone),
            item.password_changed_at.astimezone(zone),
        )
        for item in found
    ]
    return render_page(request, "accounts.html", accounts=rows)
