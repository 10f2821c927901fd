"""Validate workflow files and the templates they name: every problem, as `path:line:col`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mailengine.errors import SourceLocation
from mailengine.render import TemplateLibrary
from mailengine.render.mjml_cache import TEMPLATE_SUFFIX, display_path
from mailengine.workflows.loader import WorkflowSet, load_workflows
from mailengine.workflows.model import SendStep, Workflow
from mailengine.workflows.problems import Problem


def validate_workflows(
    paths: Iterable[Path], templates_dir: Path, display_base: Path | None = None
) -> WorkflowSet:
    """Load the workflows and check every template they send; problems of both kinds.

    A workflow whose templates are wrong stays in `workflows` (its file is fine) while its
    problems are listed: callers that must refuse to start check `ok`.
    """
    result = load_workflows(paths, display_base)
    library = TemplateLibrary(templates_dir)
    checked: dict[str, list[Problem]] = {}
    for workflow in result.workflows.values():
        result.problems.extend(check_templates(workflow, library, checked))
    return result


def check_templates(
    workflow: Workflow,
    library: TemplateLibrary,
    checked: dict[str, list[Problem]] | None = None,
) -> list[Problem]:
    """Missing template files at the step that names them; problems inside a template (and
    Jinja errors in subjects) at their own place. `checked` caches template results."""
    cache = {} if checked is None else checked
    problems: list[Problem] = []
    for step in workflow.all_steps():
        if not isinstance(step, SendStep):
            continue
        file = library.templates_dir / f"{step.template}{TEMPLATE_SUFFIX}"
        if not file.is_file():
            shown = display_path(library.templates_dir, file)
            problems.append(
                Problem(step.location, f"template '{step.template}' not found: expected {shown}")
            )
            continue
        if step.template not in cache:
            cache[step.template] = [
                Problem(SourceLocation(found.path, found.line, found.column), found.message)
                for found in library.check(step.template)
            ]
            problems.extend(cache[step.template])
        for part, source in (("subject", step.subject), ("preheader", step.preheader)):
            if source is None:
                continue
            for found in library.check_line(source, path=step.location.path):
                problems.append(Problem(step.location, f"{part}: {found.message}"))
    return problems
