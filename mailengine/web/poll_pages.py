"""The page behind each answer link of a poll: `GET /poll/<poll>/<answer>/<mail>/<token>`.

Following a link records nothing: the page shows the question with that answer chosen, a
comment field and a Send button, and only the POST of that form records (mail scanners that
fetch every link of a message must not vote). Sending again replaces the answer given from
that mail. The token is the only credential (see `polls.links`): a forged, altered or
expired one gets the same 400 page as an unsubscribe link. A low score on a poll with
`ticket: {lte: N}` opens a support ticket with the comment, for a person to follow up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse

from mailengine.polls.links import poll_scope
from mailengine.polls.model import Poll
from mailengine.store.poll_models import COMMENT_LENGTH, NAME_LENGTH
from mailengine.store.polls import GivenAnswer, open_poll_ticket, record_poll_answer
from mailengine.store.privacy import link_holder
from mailengine.tokens import read_token
from mailengine.web.context import WebContext, web_context
from mailengine.web.links import sent_from_here
from mailengine.web.pages import invalid_link, message_page, page

router = APIRouter(
    tags=["polls"],
    default_response_class=HTMLResponse,
    responses={400: {"description": "A forged or altered link", "content": {"text/html": {}}}},
)
_PATH = "/poll/{poll}/{answer}/{mail}/{token}"
MAIL_IDS = 2**31  # outbox ids a link may name


def holder_of_link(context: WebContext, purpose: str, scope: str, token: str) -> str | None:
    """The address hash a genuine, unexpired link token names, for this purpose and scope."""
    validity = timedelta(days=context.settings.http.link_validity_days)
    return read_token(context.secret, purpose, token, context.clock.now(), validity, scope)


def mail_number(text: str) -> int | None:
    """The outbox id a link names (0: none), or None for anything but a plain number."""
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) >= MAIL_IDS:
        return None
    return int(text)


def _poll_of(
    context: WebContext, poll: str, answer: str, mail: str, token: str
) -> tuple[Poll, str, int] | None:
    """The poll a genuine link answers, the address hash and the mail it names; None for
    any other link."""
    found, number = context.asking.polls.get(poll), mail_number(mail)
    if found is None or found.question.answer(answer) is None or number is None:
        return None
    digest = holder_of_link(context, "poll", poll_scope(poll, answer, number), token)
    return (found, digest, number) if digest is not None else None


@router.get(_PATH, summary="A poll answer, to confirm (records nothing)")
def poll_page(poll: str, answer: str, mail: str, token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    checked = _poll_of(context, poll, answer, mail, token)
    if checked is None:
        return invalid_link(context.settings)
    return _form(context, checked[0], answer, "")


@router.post(_PATH, summary="Record a poll answer")
def poll_answer(
    poll: str,
    answer: str,
    mail: str,
    token: str,
    request: Request,
    chosen: Annotated[str, Form(alias="answer", max_length=NAME_LENGTH)] = "",
    comment: Annotated[str, Form(max_length=COMMENT_LENGTH)] = "",
) -> HTMLResponse:
    """`answer`: the one chosen on the page (the link's, or another of the poll's);
    `comment`: optional words. Only a form sent from our own page counts."""
    context = web_context(request)
    checked = _poll_of(context, poll, answer, mail, token)
    if checked is None:
        return invalid_link(context.settings)
    found, digest, number = checked
    picked = found.question.answer(chosen or answer)
    if picked is None:
        return _form(context, found, answer, comment, problem="Please choose an answer.")
    if not sent_from_here(request, context.settings.http.public_url):
        return from_elsewhere(context)
    now = context.clock.now()
    given = GivenAnswer(picked.value, picked.score, comment)
    outbox_id = number or None
    with context.database.transaction() as session:
        holder = link_holder(session, digest)
        if holder.customer_id is None or holder.email is None:
            return gone(context)
        record_poll_answer(session, holder.customer_id, poll, given, now, outbox_id=outbox_id)
        low = found.ticket_at_most
        if low is not None and picked.score is not None and picked.score <= low:
            open_poll_ticket(
                session, holder.customer_id, holder.email, poll, given, now, outbox_id=outbox_id
            )
    question = found.question.text
    return page(context.settings, "poll-thanks.html", question=question, answer=picked.label)


def _form(
    context: WebContext, poll: Poll, chosen: str, comment: str, problem: str = ""
) -> HTMLResponse:
    question = poll.question
    return page(
        context.settings,
        "poll.html",
        status_code=422 if problem else 200,
        question=question,
        chosen=chosen,
        comment=comment,
        problem=problem,
    )


def from_elsewhere(context: WebContext) -> HTMLResponse:
    """A form posted from another site: nothing recorded."""
    return message_page(
        context.settings,
        "Nothing was recorded",
        "This form was sent from another site. Open the link in your email and answer there.",
        status_code=403,
    )


def gone(context: WebContext) -> HTMLResponse:
    """A link to an address whose data was erased."""
    return message_page(
        context.settings,
        "We no longer hold this address",
        "There is nothing to answer for: the data of this address was erased.",
        status_code=410,
    )
