"""Answering the customer from a ticket's page: the composer's form posts here.

The form carries a key made when the page was shown; the answer is planned under it, so the
same form sent twice (a double click, a browser retrying the POST, the back button and send
again) plans one message. A refused answer shows the page again with the text kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailengine.inbound.human_replies import HumanReply, ReplyRefused, plan_human_reply
from mailengine.store.tickets import get_ticket
from mailengine.studio.access import StudioUser
from mailengine.studio.context import studio_context
from mailengine.studio.ticket_actions import author_of, back_to
from mailengine.studio.ticket_routes import missing_ticket, show_ticket
from mailengine.studio.ticket_views import DESK, INBOX_PATH

router = APIRouter(include_in_schema=False)


@router.post(INBOX_PATH + "/{number:int}/reply")
def reply(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    number: int,
    body: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form()] = "",
    quote: Annotated[str, Form()] = "",
    close: Annotated[str, Form()] = "",
) -> Response:
    """`quote` and `close` are checkboxes (present: on)."""
    context = studio_context(request)
    answer = HumanReply(
        ticket_id=number,
        author=author_of(user),
        body=body,
        request_key=f"studio:{request_key}",
        quote=bool(quote),
        close=bool(close),
    )
    try:
        with context.database.transaction() as session:
            if get_ticket(session, number) is None:
                return missing_ticket(request, number)
            outcome = plan_human_reply(session, context.settings, answer, context.clock.now())
    except ReplyRefused as refused:
        error = f"Nothing was sent: {refused}."
        return show_ticket(request, user, number, error=error, status_code=422, body=body)
    if not outcome.planned:
        return back_to(number, "answered-before")
    return back_to(number, "replied-closed" if answer.close else "replied")
