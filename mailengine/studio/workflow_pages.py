"""The Workflows pages: every workflow file with its state, and one workflow as a flow.

The list is the overview's (`overview.workflow_file_states`: the files as `validate` checks
them, problems at `file:line:col`) with where each workflow's customers are. A workflow's
page draws it (`flow_nodes` → `flow_diagram`), lists the same flow in words, and puts on each
step who is there now and what its mail did over the chosen period (`step_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailengine.store.workflow_progress import DUE_HORIZON, states_by_workflow
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.context import studio_context
from mailengine.studio.flow_diagram import flow_svg
from mailengine.studio.flow_nodes import condition_words, duration_words, flow_tree
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.overview import WorkflowFile, workflow_file_states
from mailengine.studio.page_input import (
    PERIODS,
    PageInputError,
    attribution,
    period_of,
    problem_page,
)
from mailengine.studio.rendering import render_page
from mailengine.studio.step_figures import workflow_figures
from mailengine.workflows.model import Workflow

router = APIRouter(include_in_schema=False)
MARKETING = require_role("admin", "marketer")


@dataclass(frozen=True)
class WorkflowListRow:
    file: WorkflowFile
    states: dict[str, int]

    @property
    def enrolled(self) -> int:
        return sum(self.states.values())


@router.get("/studio/workflows")
def workflow_list(request: Request, user: Annotated[StudioUser, Depends(MARKETING)]) -> Response:
    context = studio_context(request)
    files = workflow_file_states(context)
    with context.database.session() as session:
        states = states_by_workflow(session)
    rows = [
        WorkflowListRow(item, states.get(item.workflow.name, {}) if item.workflow else {})
        for item in files
    ]
    return render_page(
        request,
        "workflows.html",
        rows=rows,
        valid_count=sum(1 for item in files if item.valid),
        numbers=_numbers(request),
    )


@router.get("/studio/workflows/{name}")
def workflow_page(
    request: Request,
    name: str,
    user: Annotated[StudioUser, Depends(MARKETING)],
    period: str | None = None,
) -> Response:
    context = studio_context(request)
    files = workflow_file_states(context)
    found = next((f for f in files if f.workflow and f.workflow.name == name), None)
    if found is None or found.workflow is None:
        known = ", ".join(sorted(f.workflow.name for f in files if f.workflow)) or "none"
        return problem_page(
            request, 404, f"No workflow named {name}",
            f"No workflow file in {context.workflows_dir} is named '{name}' and loads "
            f"(loaded: {known}). A file with problems is listed with them on the Workflows "
            "page.", ("/studio/workflows", "All workflows"),
        )  # fmt: skip
    now = context.clock.now()
    try:
        chosen = period_of(period, now)
    except PageInputError as error:
        return problem_page(request, 400, "This period cannot be shown", str(error),
                            (f"/studio/workflows/{name}", name))  # fmt: skip
    workflow = found.workflow
    numbers = _numbers(request)
    with context.database.session() as session:
        figures = workflow_figures(session, workflow, chosen.since, now, attribution(context))
    items = flow_tree(workflow, figures, numbers)
    return render_page(
        request,
        "workflow.html",
        workflow=workflow,
        file=found,
        facts=workflow_facts(workflow),
        figures=figures,
        items=items,
        diagram=flow_svg(items, f"The {workflow.name} workflow as a flow", "flow"),
        period=chosen,
        periods=list(PERIODS),
        numbers=numbers,
        due_by=(now + DUE_HORIZON).astimezone(context.settings.zone),
    )


def workflow_facts(workflow: Workflow) -> list[tuple[str, str]]:
    """What the workflow file says beyond its steps, as (label, words)."""
    reentry = workflow.reenter
    again = {"never": "never", "always": "at every trigger"}.get(reentry.policy)
    if again is None:
        again = f"after {duration_words(reentry.after)}" if reentry.after else "after it ends"
    facts = [
        ("Kind", "transactional" if workflow.transactional else "marketing"),
        ("Audience", condition_words(workflow.audience) if workflow.audience else "everyone"),
        ("Re-entry", again),
    ]
    goals = [
        " and ".join(
            part
            for part in (
                f"{goal.event} arrives" if goal.event else "",
                condition_words(goal.condition) if goal.condition else "",
            )
            if part
        )
        for goal in workflow.exit_when
    ]
    if goals:
        facts.append(("Leaves when", "; or ".join(goals)))
    if workflow.holdout is not None:
        facts.append(("Holdout", f"{workflow.holdout.percent} % get nothing (control group)"))
    facts.append(("Tracking", "opens and clicks" if workflow.tracking else "off"))
    facts.append(("Version", workflow.version))
    return facts


def _numbers(request: Request) -> NumberFormat:
    settings = studio_context(request).settings
    return NumberFormat(settings.locale, settings.currency)
