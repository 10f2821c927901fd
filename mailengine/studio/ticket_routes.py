"""The support desk's pages to read: the inbox, one ticket with its customer, the waiting-time
report. For the roles support and admin. What changes a ticket is `ticket_actions`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.inbound.waiting_clock import (
    TicketClock,
    short_duration,
    ticket_clock,
    waiting_report,
)
from mailengine.store.desk import (
    INBOX_STATES,
    INBOX_WHO,
    InboxRow,
    InboxState,
    InboxWho,
    clock_rows,
    inbox,
    inbox_counts,
)
from mailengine.studio.access import StudioUser
from mailengine.studio.context import studio_context
from mailengine.studio.rendering import render_page
from mailengine.studio.ticket_compose import composer_values
from mailengine.studio.ticket_views import DESK, INBOX_PATH, load_ticket_page

router = APIRouter(include_in_schema=False)
REPORT_PERIODS = (7, 30, 90)
# What the page says after a change, by the `done` the change redirects with.
DONE = {
    "assigned": "The ticket's assignee is changed.",
    "unchanged": "Nothing changed: the ticket was like that already.",
    "noted": "Your note is on the ticket. Only the team sees it.",
    "closed": "The ticket is closed. Marketing held back for it goes on.",
    "reopened": "The ticket is open again and waits for an answer.",
    "replied": "Your answer is in the outbox; the engine sends it within seconds.",
    "replied-closed": "Your answer is in the outbox and the ticket is closed.",
    "answered-before": "That answer was sent before; it was not sent again.",
}


@dataclass(frozen=True)
class InboxLine:
    row: InboxRow
    clock: TicketClock


@router.get(INBOX_PATH)
def inbox_page(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    state: str = "open",
    who: str = "all",
) -> Response:
    chosen_state: InboxState = next((item for item in INBOX_STATES if item == state), "open")
    chosen_who: InboxWho = next((item for item in INBOX_WHO if item == who), "all")
    context = studio_context(request)
    now = context.clock.now()
    with context.database.session() as session:
        rows = inbox(session, state=chosen_state, who=chosen_who, user_id=user.id)
        counts = inbox_counts(session, who=chosen_who, user_id=user.id)
    return render_page(
        request,
        "tickets.html",
        lines=[InboxLine(row, ticket_clock(row.ticket, now)) for row in rows],
        counts=counts,
        state=chosen_state,
        who=chosen_who,
        states=INBOX_STATES,
        zone=context.settings.zone,
        duration=short_duration,
    )


@router.get(INBOX_PATH + "/report")
def report_page(
    request: Request, user: Annotated[StudioUser, Depends(DESK)], days: int = 30
) -> Response:
    period = days if days in REPORT_PERIODS else 30
    context = studio_context(request)
    now = context.clock.now()
    since = now - timedelta(days=period)
    with context.database.session() as session:
        rows = clock_rows(session, since)
    return render_page(
        request,
        "ticket_report.html",
        report=waiting_report(rows, since, now),
        days=period,
        periods=REPORT_PERIODS,
        zone=context.settings.zone,
        duration=short_duration,
    )


@router.get(INBOX_PATH + "/{number:int}")
def ticket_page(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    number: int,
    done: str = "",
    snippet: int | None = None,
    body: str = "",
) -> Response:
    """One ticket; `snippet` (with the `body` written so far) fills the composer with a saved
    reply when the browser runs no script."""
    return show_ticket(request, user, number, notice=DONE.get(done), snippet=snippet, body=body)


def show_ticket(
    request: Request,
    user: StudioUser,
    number: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    note: str = "",
    snippet: int | None = None,
    body: str = "",
) -> Response:
    """The ticket page, with what a form left (an error, the text to keep)."""
    context = studio_context(request)
    zone = context.settings.zone
    with context.database.session() as session:
        page = load_ticket_page(session, number, zone, context.clock.now())
        if page is None:
            return missing_ticket(request, number)
        composer = composer_values(context, session, page, snippet=snippet, body=body)
    return render_page(
        request,
        "ticket.html",
        status_code=status_code,
        page=page,
        ticket=page.ticket,
        notice=notice,
        error=error or composer.pop("snippet_error"),
        note=note,
        note_key=secrets.token_urlsafe(16),
        zone=zone,
        duration=short_duration,
        **composer,
    )


def missing_ticket(request: Request, number: int) -> Response:
    return render_page(request, "ticket_missing.html", status_code=404, number=number)
