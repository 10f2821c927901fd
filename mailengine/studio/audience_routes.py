"""The Audiences pages: every workflow's audience, and one audience with its size, 20 sample
customers and its SQL, with a form to try an edited expression before putting it in the file.

The studio never writes workflow files: a tried expression is measured and shown, nothing
more. Measuring runs in a worker thread (`run_in_threadpool`) under `studio.query_seconds`.
For admins and marketers. May import `store`, `workflows` and the studio's own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.audience_trial import (
    AudienceBusy,
    AudienceFigures,
    ParsedExpression,
    QueryTimeout,
    audience_context,
    current_workflows,
    measure_audience,
    parse_expression,
    saved_expression,
    with_audience,
)
from mailengine.studio.context import StudioContext, studio_context
from mailengine.studio.overview import describe_trigger
from mailengine.studio.rendering import render_page
from mailengine.workflows import fields
from mailengine.workflows.model import Workflow

router = APIRouter(include_in_schema=False)
Marketing = Annotated[StudioUser, Depends(require_role("admin", "marketer"))]


@dataclass(frozen=True)
class AudienceListing:
    workflow: Workflow
    trigger: str
    expression: str


@dataclass(frozen=True)
class Measured:
    """An audience's figures, or why there are none (too slow, too busy)."""

    figures: AudienceFigures | None
    error: str = ""


@dataclass(frozen=True)
class FieldHelp:
    name: str
    description: str
    operators: tuple[str, ...]


FIELD_HELP = (
    *(
        FieldHelp(spec.name, spec.description, fields.operators_of(spec))
        for spec in fields.FIELDS.values()
    ),
    FieldHelp(
        "attributes.<name>", "a free-form attribute, e.g. shoe_size", fields.OPERATORS["attribute"]
    ),
    FieldHelp(
        "spent / orders",
        "order totals over a window: {within: 90 days, gte: 100}",
        ("eq", "gt", "gte", "lt", "lte"),
    ),
    FieldHelp("top", "the top N % by a stored figure: {percent: 20, by: spent_365d}", ()),
    FieldHelp("rfm / rfm_segment", "recency-frequency-money scores and named segments", ()),
    FieldHelp("all / any / not", "every one, one of, none of the conditions listed", ()),
)


@router.get("/studio/audiences")
def audience_list(request: Request, user: Marketing) -> Response:
    context = studio_context(request)
    workflows, problem_count = _workflows(context)
    listings = [
        AudienceListing(item, describe_trigger(item), saved_expression(_file_of(context, item)))
        for item in sorted(workflows.values(), key=lambda item: item.name)
    ]
    return render_page(request, "audiences.html", listings=listings, problem_count=problem_count)


@router.get("/studio/audiences/{name}")
async def audience_page(request: Request, name: str, user: Marketing) -> Response:
    context = studio_context(request)
    workflow = _workflows(context)[0].get(name)
    if workflow is None:
        return _missing(request, name)
    saved = await _measure(context, workflow)
    expression = saved_expression(_file_of(context, workflow))
    return _render(request, context, workflow, saved, expression, None, None)


@router.post("/studio/audiences/{name}")
async def try_audience(
    request: Request, name: str, user: Marketing, expression: Annotated[str, Form()] = ""
) -> Response:
    context = studio_context(request)
    workflow = _workflows(context)[0].get(name)
    if workflow is None:
        return _missing(request, name)
    saved = await _measure(context, workflow)
    parsed = parse_expression(expression)
    tried = None
    if parsed.ok:
        tried = await _measure(context, with_audience(workflow, parsed.condition))
    status = 200 if parsed.ok else 422
    return _render(request, context, workflow, saved, expression, parsed, tried, status)


def _render(
    request: Request,
    context: StudioContext,
    workflow: Workflow,
    saved: Measured,
    expression: str,
    parsed: ParsedExpression | None,
    tried: Measured | None,
    status_code: int = 200,
) -> Response:
    zone = context.settings.zone
    return render_page(
        request,
        "audience.html",
        status_code=status_code,
        workflow=workflow,
        trigger=describe_trigger(workflow),
        saved=saved,
        expression=expression,
        parsed=parsed,
        tried=tried,
        expression_lines=_annotated_lines(expression, parsed),
        now=context.clock.now().astimezone(zone),
        dialect=context.database.dialect,
        currency=context.settings.currency,
        field_help=FIELD_HELP,
    )


async def _measure(context: StudioContext, workflow: Workflow) -> Measured:
    audience = audience_context(context.settings, context.clock.now())
    seconds = context.settings.studio.query_seconds
    try:
        figures = await run_in_threadpool(
            measure_audience, context.database, workflow, audience, seconds
        )
    except (QueryTimeout, AudienceBusy) as error:
        return Measured(None, str(error))
    return Measured(figures)


@dataclass(frozen=True)
class ExpressionLine:
    number: int
    text: str
    problems: list[str]


def _annotated_lines(text: str, parsed: ParsedExpression | None) -> list[ExpressionLine]:
    """The tried expression line by line, each with the problems found on it."""
    if parsed is None or parsed.ok:
        return []
    lines = text.splitlines() or [""]
    found: dict[int, list[str]] = {}
    for problem in parsed.problems:
        said = problem.location.line or 1
        column = problem.location.column
        where = f"{said}:{column}" if column else f"{said}"
        line = min(max(said, 1), len(lines))  # past the end (YAML's "stream end"): the last
        found.setdefault(line, []).append(f"{where} {problem.message}")
    return [
        ExpressionLine(number, line, found.get(number, []))
        for number, line in enumerate(lines, start=1)
    ]


def _workflows(context: StudioContext) -> tuple[dict[str, Workflow], int]:
    """The workflow files that load (read afresh), and how many problems the others have."""
    found = current_workflows(context.workflows_dir)
    return found.workflows, len(found.problems)


def _file_of(context: StudioContext, workflow: Workflow) -> Path:
    return context.workflows_dir.parent / workflow.path


def _missing(request: Request, name: str) -> Response:
    return render_page(
        request,
        "not_found.html",
        status_code=404,
        title="No such workflow",
        text=f"No workflow file in the workflows folder is named {name!r}, or it does not load.",
        back_href="/studio/audiences",
        back_label="All audiences",
    )
