"""The preview pages: pick a workflow's send step and a customer, see the mail and its checks.

`/studio/preview` lists the workflows and their send steps; `/studio/preview/WORKFLOW`
shows one step (`?step=N`) for a customer (`?customer=ID`, found with `?q=` by address or
name) or a sample customer (`?sample=N`), and `.../eml` downloads the exact message.
With `fragment=1` a page answers with its workbench only: the page's script swaps it in,
so switching step or customer does not reload the page (without script, links and forms
load the whole page). Mail is shown in frames loaded from `/studio/frames/...` (see
`frame_store`).

It may import the studio's modules, `engine`, `store`, `workflows` and `render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from mailengine.engine.step_preview import StepPreviewer
from mailengine.store.customer_directory import find_customers
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.frame_store import FRAME_HEADERS, FrameStore
from mailengine.studio.preview import PreviewChoiceError, PreviewView, Who, build_preview
from mailengine.studio.rendering import PAGE_POLICY, render_page
from mailengine.workflows.model import Workflow

router = APIRouter(include_in_schema=False)
Marketing = Annotated[StudioUser, Depends(require_role("admin", "marketer"))]
# Preview pages show mail in frames from the studio itself.
FRAMED_PAGE = {"Content-Security-Policy": f"{PAGE_POLICY}; frame-src 'self'"}


def frame_store(request: Request) -> FrameStore:
    """The app's store of rendered frames, made on first use."""
    state = request.app.state
    if not hasattr(state, "studio_frames"):
        state.studio_frames = FrameStore()
    store: FrameStore = state.studio_frames
    return store


def workflows_of(context: StudioContext) -> dict[str, Workflow]:
    return dict(sorted(context.checked_workflows().result.workflows.items()))


PICKER_SIZE = 20  # customers offered by the picker; narrow the search for others


@router.get("/studio/preview")
def preview_index(request: Request, user: Marketing) -> Response:
    context = studio_context(request)
    return render_page(request, "preview_index.html", workflows=workflows_of(context).values())


@dataclass(frozen=True)
class Choice:
    """What the address asks to preview: `?step=N&customer=ID` or `&sample=N`."""

    step: int | None
    customer: str | None
    sample: str | None


def choice(
    step: Annotated[int | None, Query(ge=1)] = None,
    customer: str | None = None,
    sample: str | None = None,
) -> Choice:
    return Choice(step, customer, sample)


Chosen = Annotated[Choice, Depends(choice)]


@router.get("/studio/preview/{workflow_name}")
def preview_page(
    request: Request,
    user: Marketing,
    workflow_name: str,
    chosen: Chosen,
    q: str = "",
    fragment: bool = False,
) -> Response:
    context = studio_context(request)
    view = _view(context, workflow_name, chosen)
    if isinstance(view, str):
        return _not_found(request, view)
    with context.database.session() as session:
        found = find_customers(session, q, page_size=PICKER_SIZE) if q.strip() else None
    matches = [] if found is None else [c for c in found.customers if c.forgotten_at is None]
    values: dict[str, Any] = {
        "view": view,
        "frames": store_frames(request, user, view),
        "q": q,
        "matches": matches,
        "searched": bool(q.strip()),
    }
    page = "preview_workbench.html" if fragment else "preview.html"
    return render_page(request, page, headers=FRAMED_PAGE, **values)


@router.get("/studio/preview/{workflow_name}/eml")
def preview_eml(request: Request, user: Marketing, workflow_name: str, chosen: Chosen) -> Response:
    """The message exactly as the composer builds it, to open in a mail program."""
    view = _view(studio_context(request), workflow_name, chosen)
    if isinstance(view, str):
        return _not_found(request, view)
    if view.preview is None:
        return _not_found(request, view.failure.message if view.failure else "nothing to show")
    return Response(
        view.preview.composed.envelope.data,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="{view.eml_name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/studio/frames/{token}/{frame}")
def frame(
    request: Request,
    user: Annotated[StudioUser, Depends(require_role("admin", "marketer"))],
    token: str,
    frame: str,
) -> Response:
    """One rendered mail for a preview frame, sandboxed by its own policy (no script)."""
    html = frame_store(request).get(user.id, token, frame)
    if html is None:
        html = (
            "<!DOCTYPE html><p style='font:15px system-ui;color:#556070;padding:1rem'>"
            "This preview has expired: reload the page.</p>"
        )
        return HTMLResponse(html, status_code=404, headers=FRAME_HEADERS)
    return HTMLResponse(html, headers=FRAME_HEADERS)


def store_frames(request: Request, user: StudioUser, view: PreviewView) -> str | None:
    """The token the view's frames load by, or None when there is no mail to show."""
    if view.frames is None:
        return None
    views = {"mail": view.frames.mail, "dark": view.frames.dark}
    return frame_store(request).put(user.id, views)


def _view(context: StudioContext, workflow_name: str, chosen: Choice) -> PreviewView | str:
    """The preview asked for, or why there is none."""
    workflow = workflows_of(context).get(workflow_name)
    if workflow is None:
        return f"There is no valid workflow named {workflow_name!r}."
    previewer = StepPreviewer(context.composer(), tracked=True)
    now = context.clock.now()
    try:
        who = Who.parse(chosen.customer, chosen.sample)
        return build_preview(previewer, context.database, workflow, chosen.step, who, now)
    except PreviewChoiceError as exc:
        return exc.message


def _not_found(request: Request, text: str) -> Response:
    return render_page(
        request, "refused.html", status_code=404, title="Nothing to preview", text=text
    )
