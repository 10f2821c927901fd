"""What a person does to a ticket in the studio: assign it, add an internal note, close it,
open it again. Each is a form post that answers with a redirect to the ticket (post, redirect,
get: reloading the page sends nothing again); a note carries its form's key, so the same form
sent twice adds one note. Answers to the customer are `ticket_replies`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailengine.store.desk import Author, add_entry, assign_ticket_to, reopen_ticket
from mailengine.store.tickets import close_ticket, get_ticket
from mailengine.store.users import list_users
from mailengine.studio.access import StudioUser
from mailengine.studio.context import studio_context
from mailengine.studio.ticket_routes import missing_ticket, show_ticket
from mailengine.studio.ticket_views import ASSIGNABLE_ROLES, DESK, INBOX_PATH, ticket_path

router = APIRouter(include_in_schema=False)
MAX_NOTE = 20_000


def author_of(user: StudioUser) -> Author:
    return Author(user.id, user.email, "studio")


def back_to(number: int, done: str) -> Response:
    return RedirectResponse(f"{ticket_path(number)}?done={done}", status_code=303)


@router.post(INBOX_PATH + "/{number:int}/assign")
def assign(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    number: int,
    assignee: Annotated[str, Form()] = "",
) -> Response:
    """`assignee`: a user's id, `me`, or empty for nobody."""
    context = studio_context(request)
    with context.database.transaction() as session:
        if get_ticket(session, number) is None:
            return missing_ticket(request, number)
        people = {
            str(found.id): Author(found.id, found.email)
            for found in list_users(session)
            if found.role in ASSIGNABLE_ROLES
        }
        wanted = str(user.id) if assignee == "me" else assignee.strip()
        target = people.get(wanted) if wanted else None
        if wanted and target is None:
            error = "Tickets go to accounts with the support or admin role; pick one of the list."
            return show_ticket(request, user, number, error=error, status_code=422)
        changed = assign_ticket_to(session, number, target, author_of(user), context.clock.now())
    return back_to(number, "assigned" if changed else "unchanged")


@router.post(INBOX_PATH + "/{number:int}/notes")
def add_note(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    number: int,
    body: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form()] = "",
) -> Response:
    text = body.strip()
    problem = None
    if not text:
        problem = "The note is empty: write something for the team first."
    elif len(text) > MAX_NOTE:
        problem = f"The note is {len(text):,} characters long; {MAX_NOTE:,} is the most."
    if problem is not None:
        return show_ticket(request, user, number, error=problem, status_code=422, note=body)
    context = studio_context(request)
    key = f"note:{request_key}" if request_key else None
    with context.database.transaction() as session:
        if get_ticket(session, number) is None:
            return missing_ticket(request, number)
        now = context.clock.now()
        add_entry(session, number, "note", author_of(user), now, body=text, request_key=key)
    return back_to(number, "noted")


@router.post(INBOX_PATH + "/{number:int}/close")
def close(request: Request, user: Annotated[StudioUser, Depends(DESK)], number: int) -> Response:
    context = studio_context(request)
    with context.database.transaction() as session:
        if get_ticket(session, number) is None:
            return missing_ticket(request, number)
        now = context.clock.now()
        closed = close_ticket(session, number, now)
        if closed:
            add_entry(session, number, "close", author_of(user), now)
    return back_to(number, "closed" if closed else "unchanged")


@router.post(INBOX_PATH + "/{number:int}/reopen")
def reopen(request: Request, user: Annotated[StudioUser, Depends(DESK)], number: int) -> Response:
    context = studio_context(request)
    with context.database.transaction() as session:
        if get_ticket(session, number) is None:
            return missing_ticket(request, number)
        reopened = reopen_ticket(session, number, author_of(user), context.clock.now())
    return back_to(number, "reopened" if reopened else "unchanged")
