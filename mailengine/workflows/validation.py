"""Validate workflow files and the templates they name: every problem, as `path:line:col`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from mailengine.errors import SourceError, SourceLocation
from mailengine.render import TemplateLibrary, TemplateProblem
from mailengine.render.mjml_cache import TEMPLATE_SUFFIX, display_path
from mailengine.workflows.copy_warnings import SendCopy
from mailengine.workflows.guarantees import guaranteed
from mailengine.workflows.loader import WorkflowSet, load_workflows
from mailengine.workflows.model import SendStep, Workflow
from mailengine.workflows.problems import Problem, unique_problems


def validate_workflows(
    paths: Iterable[Path],
    templates_dir: Path,
    display_base: Path | None = None,
    library: TemplateLibrary | None = None,
) -> WorkflowSet:
    """Load the workflows and check every template they send; problems of both kinds.

    A workflow whose templates are wrong stays in `workflows` (its file is fine) while its
    problems are listed: callers that must refuse to start check `ok`.
    """
    result = load_workflows(paths, display_base)
    library = library or TemplateLibrary(templates_dir)
    checked: dict[str, list[Problem]] = {}
    found = (check_templates(each, library, checked) for each in result.workflows.values())
    result.problems.extend(unique_problems(problem for each in found for problem in each))
    return result


def check_templates(
    workflow: Workflow,
    library: TemplateLibrary,
    checked: dict[str, list[Problem]] | None = None,
) -> list[Problem]:
    """Every send step's template, subject and preheader checked (see `check_send`) with
    what the workflow guarantees at that step (see `guarantees`)."""
    cache = {} if checked is None else checked
    problems: list[Problem] = []
    for step in workflow.sends():
        present = guaranteed(workflow, step)
        problems.extend(
            check_send(step.template, step.location, _lines(step), present, library, cache)
        )
    return problems


def check_send(
    template: str,
    named_at: SourceLocation,
    lines: Iterable[tuple[str, str, SourceLocation]],
    present: frozenset[str],
    library: TemplateLibrary,
    checked: dict[str, list[Problem]],
) -> list[Problem]:
    """One mail's checks: a missing template file at `named_at`, where the mail names it;
    problems inside the template, and in its subject and preheader (`lines`: part, source,
    place), at their own place. `present` are the values every recipient has; `checked`
    caches results by template and by `present`, so that each is reported once."""
    file = library.templates_dir / f"{template}{TEMPLATE_SUFFIX}"
    if not file.is_file():
        shown = display_path(library.templates_dir, file)
        return [Problem(named_at, f"template '{template}' not found: expected {shown}")]
    problems: list[Problem] = []
    if template not in checked:
        checked[template] = _problems(library.check(template))
        problems.extend(checked[template])
    key = f"{template} {sorted(present)}"
    if key not in checked:
        checked[key] = _problems(library.lint(template, present))
        problems.extend(checked[key])
    for part, source, where in lines:
        for found in library.check_line(
            source, path=where.path, line=where.line, column=where.column, present=present
        ):
            problems.append(Problem(where, f"{part}: {found.message}"))
        for language, translated in library.line_translations(source):
            for found in library.check_line(
                translated, path=where.path, line=where.line, column=where.column, present=present
            ):
                problems.append(Problem(where, f"{part}, {language} translation: {found.message}"))
    return problems


def workflow_sends(workflow: Workflow) -> list[SendCopy]:
    """The workflow's send steps as `copy_warnings` reads them."""
    return [
        SendCopy(step.template, step.location, tuple(_lines(step)), step.preheader is not None)
        for step in workflow.sends()
    ]


def sending_problems(
    workflow: Workflow, library: TemplateLibrary, compiled: dict[str, list[Problem]]
) -> list[Problem]:
    """What keeps a workflow from sending at all: a template it sends that is missing or does
    not compile (with every problem found in it), a subject or preheader that is not Jinja.
    Compiles through `library` (its cache is what the engine then sends); `compiled` keeps
    each template's problems, so that several workflows check a template once."""
    problems: list[Problem] = []
    for step in _sendable(workflow, library, problems):
        if step.template not in compiled:
            compiled[step.template] = _compile_problems(step.template, library)
        problems.extend(compiled[step.template])
        for part, source, where in _lines(step):
            error = library.syntax_error(source)
            if error is not None:
                problems.append(Problem(where, f"{part}: {error}"))
    return problems


def _lines(step: SendStep) -> Iterator[tuple[str, str, SourceLocation]]:
    """The step's subject and preheader templates (those it has), each with its place."""
    for part, source, at in (
        ("subject", step.subject, step.subject_at),
        ("preheader", step.preheader, step.preheader_at),
    ):
        if source is not None:
            yield part, source, at or step.location


def _sendable(
    workflow: Workflow, library: TemplateLibrary, problems: list[Problem]
) -> Iterator[SendStep]:
    """The send steps whose template file exists; each other one adds its problem, at the
    step that names the template."""
    for step in workflow.sends():
        file = library.templates_dir / f"{step.template}{TEMPLATE_SUFFIX}"
        if file.is_file():
            yield step
        else:
            shown = display_path(library.templates_dir, file)
            problems.append(
                Problem(step.location, f"template '{step.template}' not found: expected {shown}")
            )


def _compile_problems(template: str, library: TemplateLibrary) -> list[Problem]:
    try:
        library.compiled(template)
    except SourceError as error:
        found = _problems(library.check(template))
        return found or [Problem(error.location or SourceLocation(template), error.message)]
    return []


def files_of(workflow: Workflow, library: TemplateLibrary) -> set[str]:
    """The workflow's file and the template files it sends (includes too), as problems name
    them."""
    return source_files(workflow.path, workflow.templates(), library)


def source_files(path: str, templates: Iterable[str], library: TemplateLibrary) -> set[str]:
    """A file (a workflow's, a broadcast's) and the template files it sends (includes too),
    as problems name them."""
    files = {path}
    for name in templates:
        own = library.templates_dir / f"{name}{TEMPLATE_SUFFIX}"
        files.add(display_path(library.templates_dir, own))  # also when it does not compile
        try:
            compiled = library.compiled(name)
        except SourceError:
            continue
        files.update(display_path(library.templates_dir, file) for file in compiled.files)
    return files


def _problems(found: Iterable[TemplateProblem]) -> list[Problem]:
    return [
        Problem(SourceLocation(item.path, item.line, item.column), item.message) for item in found
    ]
