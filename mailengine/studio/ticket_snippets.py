"""The saved replies page: list, add, change and remove the support desk's snippets.

A saved reply is checked before it is kept, as a subject is: Jinja syntax, names templates
know, values some customers lack used without a fallback. The problem is shown at the form,
with the text kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailengine.inbound.snippets import snippet_problems
from mailengine.store.snippets import (
    SnippetNameTaken,
    delete_snippet,
    list_snippets,
    save_snippet,
)
from mailengine.studio.access import StudioUser
from mailengine.studio.context import studio_context
from mailengine.studio.rendering import render_page
from mailengine.studio.ticket_views import DESK, INBOX_PATH

router = APIRouter(include_in_schema=False)
SNIPPETS_PATH = INBOX_PATH + "/snippets"
_DONE = {
    "saved": "The saved reply is kept.",
    "deleted": "The saved reply is removed.",
    "gone": "That saved reply no longer exists.",
}


@router.get(SNIPPETS_PATH)
def snippets_page(
    request: Request, user: Annotated[StudioUser, Depends(DESK)], done: str = ""
) -> Response:
    return _page(request, notice=_DONE.get(done))


@router.post(SNIPPETS_PATH)
def add_snippet(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    name: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    return _save(request, user, None, name, body)


@router.post(SNIPPETS_PATH + "/{snippet:int}")
def change_snippet(
    request: Request,
    user: Annotated[StudioUser, Depends(DESK)],
    snippet: int,
    name: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    return _save(request, user, snippet, name, body)


@router.post(SNIPPETS_PATH + "/{snippet:int}/delete")
def remove_snippet(
    request: Request, user: Annotated[StudioUser, Depends(DESK)], snippet: int
) -> Response:
    context = studio_context(request)
    with context.database.transaction() as session:
        deleted = delete_snippet(session, snippet)
    return RedirectResponse(f"{SNIPPETS_PATH}?done={'deleted' if deleted else 'gone'}", 303)


def _save(
    request: Request, user: StudioUser, snippet: int | None, name: str, body: str
) -> Response:
    context = studio_context(request)
    text = body.replace("\r\n", "\n").strip()
    problems = snippet_problems(context.template_library(), name, text)
    if not problems:
        try:
            with context.database.transaction() as session:
                saved = save_snippet(
                    session, snippet, name.strip(), text, user.email, context.clock.now()
                )
        except SnippetNameTaken as taken:
            problems = [str(taken)]
        else:
            done = "saved" if saved is not None else "gone"
            return RedirectResponse(f"{SNIPPETS_PATH}?done={done}", 303)
    return _page(request, problems=problems, editing=snippet, name=name, body=body, status_code=422)


def _page(
    request: Request,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    editing: int | None = None,
    name: str = "",
    body: str = "",
    status_code: int = 200,
) -> Response:
    context = studio_context(request)
    with context.database.session() as session:
        snippets = list_snippets(session)
    return render_page(
        request,
        "ticket_snippets.html",
        status_code=status_code,
        snippets=snippets,
        notice=notice,
        problems=problems or [],
        editing=editing,
        name=name,
        body=body,
        zone=context.settings.zone,
    )
