"""The composer on a ticket's page: a new form key for each page, the quoted history the
answer will carry, the saved replies to insert, and the route that fills one in for the
ticket's customer (JSON for the page's script; without a script, the page itself takes
`?snippet=` and puts the text in the composer).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from mailengine.inbound.human_replies import last_customer_message
from mailengine.inbound.quoting import quote_message
from mailengine.inbound.snippets import SnippetError, render_snippet, snippet_context
from mailengine.store.snippets import get_snippet, list_snippets
from mailengine.store.tickets import get_ticket
from mailengine.studio.access import StudioUser
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.ticket_views import DESK, INBOX_PATH, TicketPage

router = APIRouter(include_in_schema=False)


def composer_values(
    context: StudioContext,
    session: Session,
    page: TicketPage,
    *,
    snippet: int | None = None,
    body: str = "",
) -> dict[str, Any]:
    """What the composer shows: `reply_key`, `quote`, `snippets`, `reply_body` (with the
    saved reply `snippet` filled in after `body`), and `snippet_error` when it failed."""
    last = last_customer_message(session, page.ticket.id)
    quote = ""
    if last is not None and last.text:
        when = last.received_at.astimezone(context.settings.zone)
        quote = quote_message(last.text, last.author, when)
    values: dict[str, Any] = {
        "reply_key": secrets.token_urlsafe(18),
        "quote": quote,
        "snippets": list_snippets(session),
        "reply_body": body,
        "snippet_error": None,
        "reply_from": context.settings.inbound.support_address,
    }
    if snippet is not None:
        try:
            text = filled_snippet(context, session, page.ticket.id, snippet)
        except SnippetError as error:
            values["snippet_error"] = str(error)
        else:
            values["reply_body"] = f"{body.rstrip()}\n\n{text}".strip() if body.strip() else text
    return values


def filled_snippet(context: StudioContext, session: Session, ticket_id: int, snippet: int) -> str:
    """The saved reply `snippet` rendered for the ticket's customer; SnippetError if it is
    gone or cannot be filled in."""
    found = get_snippet(session, snippet)
    ticket = get_ticket(session, ticket_id)
    if found is None or ticket is None:
        raise SnippetError("that saved reply no longer exists; reload the page")
    values = snippet_context(session, context.composer(), ticket, context.clock.now())
    return render_snippet(found.body, values, found.name)


@router.get(INBOX_PATH + "/{number:int}/snippets/{snippet:int}")
def snippet_text(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    number: int,
    snippet: int,
) -> Response:
    """`{"text": ...}`, or `{"error": ...}` with 422."""
    context = studio_context(request)
    with context.database.session() as session:
        try:
            text = filled_snippet(context, session, number, snippet)
        except SnippetError as error:
            return JSONResponse({"error": str(error)}, status_code=422)
    return JSONResponse({"text": text}, headers={"Cache-Control": "no-store"})
