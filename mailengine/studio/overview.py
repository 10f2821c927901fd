"""The studio's landing page: every workflow file with its validation state, and the outbox.

Files are checked as `mailengine validate` checks them (the same loader, the same template
checks; rendering for sample customers is left to `validate`, which takes seconds). A
template's problem counts for every workflow that sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.store.models import OUTBOX_STATES
from mailengine.store.outbox_health import outbox_health
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.rendering import render_page
from mailengine.workflows.loader import workflow_files
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow
from mailengine.workflows.problems import Problem
from mailengine.workflows.validation import files_of

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class WorkflowFile:
    """One file of the workflows folder as the overview shows it."""

    path: str
    workflow: Workflow | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()  # a send without a preheader, copy not translated

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def trigger(self) -> str:
        return describe_trigger(self.workflow) if self.workflow else ""


@dataclass(frozen=True)
class OutboxCount:
    state: str
    count: int


@router.get("/studio/")
def overview(request: Request, user: Annotated[StudioUser, Depends(require_role())]) -> Response:
    context = studio_context(request)
    files = workflow_file_states(context)
    with context.database.session() as session:
        health = outbox_health(session)
    outbox = [OutboxCount(state, health.count(state)) for state in OUTBOX_STATES]
    return render_page(
        request,
        "overview.html",
        files=files,
        valid_count=sum(1 for item in files if item.valid),
        outbox=outbox,
        now=context.clock.now().astimezone(context.settings.zone),
    )


def workflow_file_states(context: StudioContext) -> list[WorkflowFile]:
    """Every workflow file, in name order, with the problems of it and of its templates."""
    checked = context.checked_workflows()
    library, found = checked.library, checked.result
    base = context.workflows_dir.parent
    by_path = {workflow.path: workflow for workflow in found.workflows.values()}
    states = []
    folder = context.workflows_dir
    for file in workflow_files(folder) if folder.is_dir() else []:
        shown = str(file.resolve().relative_to(base.resolve()))
        workflow = by_path.get(shown)
        mine = files_of(workflow, library) if workflow else {shown}
        problems = tuple(p for p in found.problems if p.location.path in mine)
        warnings = tuple(w for w in checked.warnings if w.location.path in mine)
        states.append(WorkflowFile(shown, workflow, problems, warnings))
    return states


def describe_trigger(workflow: Workflow) -> str:
    trigger = workflow.trigger
    if isinstance(trigger, EventTrigger):
        return f"on {trigger.event}"
    if isinstance(trigger, ScheduleTrigger):
        return f"schedule {trigger.cron}"
    return f"yearly on {trigger.on.replace('_', ' ')} at {trigger.at:%H:%M}"
