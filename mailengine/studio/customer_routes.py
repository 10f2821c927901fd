"""The Customers pages: search by e-mail address or name, and the single customer view.

For every role: marketers look people up, support needs the view to answer tickets. Database
work runs in a worker thread (`run_in_threadpool`); a search through every customer
(`contains`) runs under `studio.query_seconds`; each mail's subject is shown as its customer
read it (`outbound.subjects_as_received`). May import `store`, `workflows`, `outbound` and
the studio's own modules.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mailengine.outbound import subjects_as_received
from mailengine.store.customer_directory import (
    MATCH_MODES,
    MAX_PAGE,
    CustomerPage,
    MatchMode,
    find_customers,
    search_text,
)
from mailengine.store.customer_mail import customer_activity
from mailengine.store.customer_record import customer_record
from mailengine.store.query_budget import QueryTimeout, time_limit
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.audience_trial import current_workflows
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.customer_view import CustomerView, customer_view
from mailengine.studio.rendering import render_page
from mailengine.workflows.model import Workflow

router = APIRouter(include_in_schema=False)
Anyone = Annotated[StudioUser, Depends(require_role("admin", "marketer", "support"))]


@router.get("/studio/customers")
async def customer_search(
    request: Request,
    user: Anyone,
    q: Annotated[str, Query(max_length=500)] = "",
    match: Annotated[str, Query()] = "start",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    context = studio_context(request)
    mode: MatchMode = "contains" if match == "contains" else "start"
    text = search_text(q)
    found: CustomerPage | None = None
    error = ""
    if text:
        try:
            found = await run_in_threadpool(_search, context, text, mode, page)
        except QueryTimeout as timeout:
            error = str(timeout)
    return render_page(
        request,
        "customers.html",
        q=text,
        match=mode,
        modes=MATCH_MODES,
        found=found,
        error=error,
        zone=context.settings.zone,
        page_link=_page_link,
    )


def _search(context: StudioContext, text: str, mode: MatchMode, page: int) -> CustomerPage:
    seconds = context.settings.studio.query_seconds
    with context.database.session() as session, time_limit(session, seconds, "this search"):
        return find_customers(session, text, mode, page)


def _page_link(found: CustomerPage, page: int) -> str:
    query: dict[str, Any] = {"q": found.text, "page": page}
    if found.mode != "start":
        query["match"] = found.mode
    return f"/studio/customers?{urlencode(query)}"


@router.get("/studio/customers/{customer_id}")
async def customer_page(request: Request, customer_id: int, user: Anyone) -> Response:
    context = studio_context(request)
    workflows = current_workflows(context.workflows_dir).workflows
    view = await run_in_threadpool(_view, context, customer_id, workflows)
    if view is None:
        return render_page(
            request,
            "not_found.html",
            status_code=404,
            title="No such customer",
            text=f"There is no customer number {customer_id}.",
            back_href="/studio/customers",
            back_label="Search customers",
        )
    return render_page(request, "customer.html", view=view, profile=view.record.profile)


def _view(
    context: StudioContext, customer_id: int, workflows: dict[str, Workflow]
) -> CustomerView | None:
    settings = context.settings
    now = context.clock.now()
    with context.database.session() as session:
        record = customer_record(session, customer_id)
        if record is None:
            return None
        activity = customer_activity(session, customer_id)
        subjects = subjects_as_received(
            session,
            context.composer(context.kept_library()),
            [mail.id for mail in activity.mails.items],
            now,
        )
    return customer_view(
        record,
        activity,
        workflows,
        zone=settings.zone,
        now=now,
        locale=settings.locale,
        currency=settings.currency,
        subjects=subjects,
    )
