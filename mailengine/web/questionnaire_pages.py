"""The page of a questionnaire: `/questionnaire/<name>/<mail>/<token>`.

GET shows every question, with the customer's earlier answers filled in; only the POST of
the form records, one answer per question (an answer left empty leaves the earlier one as
it was). Same token rules, headers and look as the poll and unsubscribe pages.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from mailengine.polls.links import questionnaire_scope
from mailengine.polls.model import Questionnaire
from mailengine.store.poll_models import COMMENT_LENGTH
from mailengine.store.polls import (
    GivenAnswer,
    questionnaire_answers,
    record_questionnaire_answers,
)
from mailengine.store.privacy import link_holder
from mailengine.web.context import WebContext, web_context
from mailengine.web.links import sent_from_here
from mailengine.web.pages import invalid_link, message_page, page
from mailengine.web.poll_pages import from_elsewhere, gone, holder_of_link, mail_number

router = APIRouter(
    tags=["polls"],
    default_response_class=HTMLResponse,
    responses={400: {"description": "A forged or altered link", "content": {"text/html": {}}}},
)
_PATH = "/questionnaire/{name}/{mail}/{token}"
FIELD_PREFIX = "q_"


def _checked(
    context: WebContext, name: str, mail: str, token: str
) -> tuple[Questionnaire, str, int] | None:
    found, number = context.asking.questionnaires.get(name), mail_number(mail)
    if found is None or number is None:
        return None
    digest = holder_of_link(context, "questionnaire", questionnaire_scope(name, number), token)
    return (found, digest, number) if digest is not None else None


@router.get(_PATH, summary="A questionnaire (records nothing)")
def questionnaire_page(name: str, mail: str, token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    checked = _checked(context, name, mail, token)
    if checked is None:
        return invalid_link(context.settings)
    form, digest, _ = checked
    with context.database.session() as session:
        holder = link_holder(session, digest)
        earlier = (
            questionnaire_answers(session, holder.customer_id, name)
            if holder.customer_id is not None
            else {}
        )
    return _page(context, form, {key: given.answer for key, given in earlier.items()})


@router.post(_PATH, summary="Record a questionnaire's answers")
async def questionnaire_answer(name: str, mail: str, token: str, request: Request) -> HTMLResponse:
    """One form field `q_<question>` per question; empty ones are left out."""
    context = web_context(request)
    checked = _checked(context, name, mail, token)
    if checked is None:
        return invalid_link(context.settings)
    form, digest, number = checked
    # Only this questionnaire's fields are read, each at most COMMENT_LENGTH characters.
    async with request.form(max_files=0, max_fields=len(form.questions) + 5) as data:
        sent = _fields(data, form)
    if not sent_from_here(request, context.settings.http.public_url):
        return from_elsewhere(context)
    answers, problem = _answers(form, sent)
    if problem:
        return _page(context, form, sent, problem)
    return await run_in_threadpool(_record, context, form, digest, answers, number or None)


def _fields(data: FormData, form: Questionnaire) -> dict[str, str]:
    found: dict[str, str] = {}
    for question in form.questions:
        value = data.get(FIELD_PREFIX + question.name)
        if isinstance(value, str) and value.strip():
            found[question.name] = value.strip()[: COMMENT_LENGTH + 1]
    return found


def _answers(form: Questionnaire, sent: Mapping[str, str]) -> tuple[dict[str, GivenAnswer], str]:
    """The answers to record, or the problem to show (an answer the question does not offer,
    a text too long)."""
    answers: dict[str, GivenAnswer] = {}
    for question in form.questions:
        value = sent.get(question.name)
        if value is None:
            continue
        if question.kind == "text":
            if len(value) > COMMENT_LENGTH:
                return {}, f"Please keep “{question.text}” under {COMMENT_LENGTH} characters."
            answers[question.name] = GivenAnswer(value)
            continue
        picked = question.answer(value)
        if picked is None:
            return {}, f"Please choose one of the answers to “{question.text}”."
        answers[question.name] = GivenAnswer(picked.value, picked.score)
    if not answers:
        return {}, "Please answer at least one question."
    return answers, ""


def _record(
    context: WebContext,
    form: Questionnaire,
    digest: str,
    answers: dict[str, GivenAnswer],
    outbox_id: int | None,
) -> HTMLResponse:
    now = context.clock.now()
    with context.database.transaction() as session:
        holder = link_holder(session, digest)
        if holder.customer_id is None:
            return gone(context)
        record_questionnaire_answers(
            session, holder.customer_id, form.name, answers, now, outbox_id=outbox_id
        )
    return message_page(
        context.settings,
        "Thank you",
        f"We have your {len(answers)} answer{'s' if len(answers) != 1 else ''}. You can "
        "open the link in the email again to change them.",
        link=context.settings.sender.shop_url,
        link_text=f"Back to {context.settings.sender.from_name}",
    )


def _page(
    context: WebContext, form: Questionnaire, chosen: Mapping[str, str], problem: str = ""
) -> HTMLResponse:
    return page(
        context.settings,
        "questionnaire.html",
        status_code=422 if problem else 200,
        form=form,
        chosen_of=chosen,
        prefix=FIELD_PREFIX,
        problem=problem,
    )
