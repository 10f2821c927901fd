"""The Simulation page: `mailengine simulate` for a workflow, a customer and a number of days,
as a timeline and a list, with the reasons a customer gets nothing.

A plain GET form (it changes nothing), so a simulation has an address to share. A few
customers of the workflow's audience are offered to try with one click.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.store.customers import customer_ids_by_email
from mailengine.store.database import Database
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import studio_context
from mailengine.studio.page_input import PageInputError, whole_number
from mailengine.studio.rendering import render_page
from mailengine.studio.simulation_view import (
    MAX_DAYS,
    SimulationView,
    simulate_customer,
    suggested_customers,
)
from mailengine.studio.timeline_svg import timeline_svg

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 30


@router.get("/studio/simulation")
def simulation_page(
    request: Request,
    user: Annotated[StudioUser, Depends(require_role("admin", "marketer"))],
    workflow: str | None = None,
    customer: str | None = None,
    days: str | None = None,
) -> Response:
    context = studio_context(request)
    workflows = context.checked_workflows().result.workflows
    names = sorted(workflows)
    chosen = workflow or (names[0] if names else "")
    now = context.clock.now()
    view: SimulationView | None = None
    span = DEFAULT_DAYS
    error: PageInputError | None = None
    try:
        span = whole_number(days, "days", 1, MAX_DAYS, DEFAULT_DAYS)
        if chosen and chosen not in workflows:
            known = ", ".join(names) or "none"
            raise PageInputError("workflow", f"no workflow named '{chosen}' loads; known: {known}")
        if customer and chosen:
            view = simulate_customer(
                context.settings,
                context.database,
                workflows.values(),
                workflows[chosen],
                _customer_id(context.database, customer),
                now,
                span,
                context.composer(),
                context.secret,
            )
    except PageInputError as problem:
        error = problem
    suggestions = (
        suggested_customers(context.settings, context.database, workflows[chosen], now)
        if chosen in workflows
        else []
    )
    return render_page(
        request,
        "simulation.html",
        status_code=_status(error),
        names=names,
        chosen=chosen,
        customer=customer or "",
        days=days if error is not None and error.field == "days" else str(span),
        max_days=MAX_DAYS,
        error=error,
        view=view,
        timeline=timeline_svg(view) if view else None,
        suggestions=suggestions,
    )


def _customer_id(database: Database, text: str) -> int:
    try:
        email = normalize_email(text)
    except InvalidAddressError as error:
        raise PageInputError("customer", f"'{text}' is not an e-mail address ({error})") from None
    with database.session() as session:
        found = customer_ids_by_email(session, [email])
    if email not in found:
        raise PageInputError("customer", f"no customer has the address {email}")
    return found[email]


def _status(error: PageInputError | None) -> int:
    if error is None:
        return 200
    return 404 if error.field in ("customer", "workflow") else 400
