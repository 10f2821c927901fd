"""The template pages: every template file, and the editor of one with its live preview.

`/studio/templates/NAME` edits `templates/NAME.mjml` and, for the send step it is previewed
as (`?use=workflow/N`), that step's subject and preheader. The page's form posts the draft:
`/render` answers with problems (`file:line:col`) and the preview as JSON for the page's
script (which calls it as you type); the form itself previews or saves and answers with the
whole page, so the editor works without script too. Saving writes nothing unless the draft
validates and the files are still the versions opened (see `editor`).

It may import the studio's modules, `engine`, `store`, `workflows` and `render`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mailengine.errors import MailengineError
from mailengine.render.checks import TemplateProblem
from mailengine.store.customers import get_customer
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.editor import (
    Draft,
    DraftResult,
    EditorShop,
    Use,
    render_draft,
    save_draft,
    template_uses,
)
from mailengine.studio.preview import PreviewChoiceError, Who
from mailengine.studio.preview_routes import FRAMED_PAGE, store_frames, workflows_of
from mailengine.studio.rendering import environment, render_page
from mailengine.studio.step_lines import StepLines
from mailengine.studio.template_files import (
    ChangedOnDiskError,
    TemplateNameError,
    read_template,
    template_names,
    version_of,
)

router = APIRouter(include_in_schema=False)
Marketing = Annotated[StudioUser, Depends(require_role("admin", "marketer"))]
MAX_SOURCE = 512 * 1024  # characters: ten times the largest shipped template


@dataclass(frozen=True)
class EditorForm:
    """The editor's form as posted."""

    source: str
    version: str
    workflow_version: str
    use: str
    subject: str | None
    preheader: str | None
    who: Who
    customer_email: str


@router.get("/studio/templates")
def template_list(request: Request, user: Marketing) -> Response:
    context = studio_context(request)
    workflows = workflows_of(context).values()
    root = context.templates_dir
    rows = [(name, template_uses(workflows, root, name)) for name in template_names(root)]
    return render_page(request, "templates.html", rows=rows)


@router.get("/studio/templates/{name:path}")
def editor_page(request: Request, user: Marketing, name: str, use: str = "") -> Response:
    context = studio_context(request)
    try:
        opened = read_template(context.templates_dir, name)
    except TemplateNameError as exc:
        return _not_found(request, exc.message)
    uses = _uses(context, name)
    chosen = _chosen(uses, use)
    form = EditorForm(
        source=opened.text,
        version=opened.version,
        workflow_version=_workflow_version(context, chosen),
        use=chosen.key if chosen else "",
        subject=chosen.step.subject if chosen else None,
        preheader=(chosen.step.preheader or "") if chosen else None,
        who=Who(),
        customer_email="",
    )
    result = render_draft(_shop(context), _draft(name, form, chosen, None), context.clock.now())
    return _page(request, user, name, opened.shown, uses, form, result, None)


@router.post("/studio/templates/{name:path}/render")
async def render_route(request: Request, user: Marketing, name: str) -> Response:
    """The draft's problems and preview, for the page's script (JSON)."""
    context = studio_context(request)
    try:
        read_template(context.templates_dir, name)
        form = await _read_form(request)
    except MailengineError as exc:
        return JSONResponse({"error": exc.message}, status_code=404)
    started = time.perf_counter()
    try:
        result = await run_in_threadpool(_render, context, name, form)
    except MailengineError as exc:
        return JSONResponse({"error": exc.message}, status_code=422)
    elapsed = round((time.perf_counter() - started) * 1000)
    return JSONResponse(_answer(request, user, context, name, result) | {"elapsed_ms": elapsed})


@router.post("/studio/templates/{name:path}")
async def editor_post(request: Request, user: Marketing, name: str) -> Response:
    """Preview or save the draft (`action`); JSON for the script, the page for a form."""
    context = studio_context(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        read_template(context.templates_dir, name)
        form = await _read_form(request)
    except MailengineError as exc:
        if wants_json:
            return JSONResponse({"error": exc.message}, status_code=404)
        return _not_found(request, exc.message)
    saving = (await request.form()).get("action") == "save"
    try:
        if saving:
            result, message = await run_in_threadpool(_save, context, name, form)
        else:
            result, message = await run_in_threadpool(_render, context, name, form), None
    except MailengineError as exc:  # changed on disk, or an unknown customer
        if wants_json:
            status = 409 if isinstance(exc, ChangedOnDiskError) else 422
            return JSONResponse({"error": exc.message}, status_code=status)
        result, message = None, exc.message
    if wants_json:
        assert result is not None
        answer = _answer(request, user, context, name, result)
        return JSONResponse(answer | {"saved": message is not None, "message": message})
    if message and result is not None:
        form = _reopened(context, name, form)
    return _page(request, user, name, None, _uses(context, name), form, result, message)


def _render(context: StudioContext, name: str, form: EditorForm) -> DraftResult:
    chosen = _chosen(_uses(context, name), form.use)
    draft = _draft(name, form, chosen, _customer_id(context, form))
    return render_draft(_shop(context), draft, context.clock.now())


def _save(context: StudioContext, name: str, form: EditorForm) -> tuple[DraftResult, str | None]:
    chosen = _chosen(_uses(context, name), form.use)
    draft = _draft(name, form, chosen, _customer_id(context, form))
    now = context.clock.now()
    workflow_version = form.workflow_version or None
    result, saved = save_draft(_shop(context), draft, form.version, workflow_version, now)
    if saved is None:
        return result, None
    also = f" and {result.use.workflow.path}" if result.workflow_text and result.use else ""
    return result, (
        f"Saved {saved.shown}{also}. The engine picks the change up on `mailengine reload` "
        "(or when it next starts); this preview already shows it."
    )


def _answer(
    request: Request, user: StudioUser, context: StudioContext, name: str, result: DraftResult
) -> dict[str, Any]:
    shown = read_template(context.templates_dir, name).shown
    view = result.view
    frames = store_frames(request, user, view) if view is not None else None
    pane = environment.get_template("editor_preview.html").render(
        view=view, frames=frames, studio=context, problems=result.problems, shown=shown
    )
    return {
        "problems": [_problem(problem, shown) for problem in result.problems],
        "html": pane,
        "version": read_template(context.templates_dir, name).version,
        "workflow_version": _workflow_version(context, result.use),
    }


def _problem(problem: TemplateProblem, shown: str) -> dict[str, Any]:
    return {
        "path": problem.path,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
        "here": problem.path == shown,
        "where": str(problem.location),
    }


def _page(
    request: Request,
    user: StudioUser,
    name: str,
    shown: str | None,
    uses: list[Use],
    form: EditorForm,
    result: DraftResult | None,
    message: str | None,
) -> Response:
    context = studio_context(request)
    view = result.view if result else None
    # CodeMirror writes its styles into a <style> element: this page's nonce lets it.
    nonce = secrets.token_urlsafe(16)
    policy = FRAMED_PAGE["Content-Security-Policy"].replace(
        "style-src 'self'", f"style-src 'self' 'nonce-{nonce}'"
    )
    return render_page(
        request,
        "editor.html",
        headers={"Content-Security-Policy": policy},
        style_nonce=nonce,
        name=name,
        shown=shown or read_template(context.templates_dir, name).shown,
        uses=uses,
        form=form,
        view=view,
        frames=store_frames(request, user, view) if view is not None else None,
        problems=result.problems if result else (),
        message=message,
        saved=bool(message and result is not None and not result.problems),
    )


async def _read_form(request: Request) -> EditorForm:
    posted = await request.form()

    def text(field: str) -> str:
        value = posted.get(field, "")
        return value if isinstance(value, str) else ""

    source = text("source").replace("\r\n", "\n")
    if len(source) > MAX_SOURCE:
        raise TemplateNameError(f"the template is over {MAX_SOURCE:,} characters")
    subject = text("subject") if "subject" in posted else None
    preheader = text("preheader") if "preheader" in posted else None
    return EditorForm(
        source=source,
        version=text("version"),
        workflow_version=text("workflow_version"),
        use=text("use"),
        subject=subject,
        preheader=preheader,
        who=Who.parse(None, text("sample") or None),
        customer_email=text("customer_email").strip(),
    )


def _reopened(context: StudioContext, name: str, form: EditorForm) -> EditorForm:
    """The form after a save: the new versions of the files, the text as saved."""
    opened = read_template(context.templates_dir, name)
    chosen = _chosen(_uses(context, name), form.use)
    version = _workflow_version(context, chosen)
    return EditorForm(**{**form.__dict__, "version": opened.version, "workflow_version": version})


def _draft(name: str, form: EditorForm, chosen: Use | None, customer: int | None) -> Draft:
    lines = None
    if chosen is not None and form.subject is not None:
        lines = StepLines(form.subject, form.preheader or "")
    who = Who(customer_id=customer) if customer else form.who
    return Draft(name, form.source, chosen, lines, who)


def _customer_id(context: StudioContext, form: EditorForm) -> int | None:
    if not form.customer_email:
        return None
    with context.database.session() as session:
        customer = get_customer(session, form.customer_email.lower())
    if customer is None or customer.id is None:
        raise PreviewChoiceError(f"no customer has the address {form.customer_email}")
    return customer.id


def _uses(context: StudioContext, name: str) -> list[Use]:
    return template_uses(workflows_of(context).values(), context.templates_dir, name)


def _chosen(uses: list[Use], key: str) -> Use | None:
    return next((use for use in uses if use.key == key), uses[0] if uses else None)


def _workflow_version(context: StudioContext, use: Use | None) -> str:
    if use is None:
        return ""
    return version_of((context.workflows_dir.parent / use.workflow.path).read_bytes())


def _shop(context: StudioContext) -> EditorShop:
    return EditorShop(context.settings, context.database, context.secret, context.workflows_dir)


def _not_found(request: Request, text: str) -> Response:
    return render_page(
        request, "refused.html", status_code=404, title="No such template", text=text
    )
