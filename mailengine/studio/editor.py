"""The template editor's work: render an unsaved draft for a customer, check it, save it.

A draft is rendered from a copy of the templates folder (the `.mjml` files only, a few
milliseconds) in which the edited file has the editor's text: the same `TemplateLibrary`, the
same composer and the same checks as for the files on disk, and problems name the real
places (`templates/welcome/hello.mjml:12:5`) because the copy's folder has the real one's
name. The files on disk change only on save, and only when everything validates: the
template and, with its new subject and preheader, the workflow file.

A partial is previewed through a step that sends a template including it. A template no
workflow sends (support mail, the opt-in confirmation) is checked, not previewed.

It may import `engine`, `outbound`'s names, `store`, `workflows`, `render` and the studio's
pure modules.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mailengine.config import Settings
from mailengine.engine.step_preview import StepPreviewer
from mailengine.errors import MailengineError, SourceLocation
from mailengine.outbound import Composer
from mailengine.render.assets import ASSETS_FOLDER
from mailengine.render.checks import INCLUDE, TemplateProblem, included_files
from mailengine.render.library import TemplateLibrary
from mailengine.render.mjml_cache import TEMPLATE_SUFFIX, display_path
from mailengine.render.translations import CATALOGS_DIR
from mailengine.store.database import Database
from mailengine.studio.preview import PreviewView, Who, build_preview
from mailengine.studio.step_lines import StepLines, with_step_lines
from mailengine.studio.tag_balance import unbalanced_tags
from mailengine.studio.template_files import (
    ChangedOnDiskError,
    TemplateSource,
    save_template,
    template_file,
    version_of,
    write_atomically,
)
from mailengine.workflows.guarantees import guaranteed
from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import SendStep, Workflow
from mailengine.workflows.validation import check_templates

_SCRATCH = Path("/dev/shm")
_INCLUDE_DEPTH = 8  # includes of includes, as deep as MRML follows them


@dataclass(frozen=True)
class Use:
    """A send step that sends the template (or a template that includes it)."""

    workflow: Workflow
    step: SendStep
    number: int  # among the workflow's sends, 1-based

    @property
    def key(self) -> str:
        return f"{self.workflow.name}/{self.number}"


@dataclass(frozen=True)
class Draft:
    name: str
    source: str
    use: Use | None
    lines: StepLines | None  # the step's subject and preheader as typed
    who: Who


@dataclass(frozen=True)
class DraftResult:
    problems: tuple[TemplateProblem, ...]
    view: PreviewView | None
    use: Use | None  # the step previewed, with the typed subject and preheader
    workflow_text: str | None  # its workflow file so changed, when they were changed


@dataclass(frozen=True)
class EditorShop:
    """What the editor renders with: the shop's settings, database, key and workflows."""

    settings: Settings
    database: Database
    secret: bytes
    workflows_dir: Path

    @property
    def templates_dir(self) -> Path:
        return self.settings.paths.templates


def template_uses(workflows: Iterable[Workflow], root: Path, name: str) -> list[Use]:
    """Every send step whose mail is made from template `name`, directly or by inclusion."""
    target = (root / f"{name}{TEMPLATE_SUFFIX}").resolve()
    uses = []
    for workflow in workflows:
        for number, step in enumerate(workflow.sends(), 1):
            main = root / f"{step.template}{TEMPLATE_SUFFIX}"
            if main.is_file() and target in {f.resolve() for f in included_files(root, main)}:
                uses.append(Use(workflow, step, number))
    return uses


@contextmanager
def draft_folder(root: Path, name: str, source: str, also: Iterable[str] = ()) -> Iterator[Path]:
    """A folder named as the templates folder, holding `name` with `source`, the templates
    `also` names, and what they include (in memory where the system has a RAM disk: this
    runs on every keystroke)."""
    scratch = _SCRATCH if _SCRATCH.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="mailengine-draft-", dir=scratch) as work:
        copy = Path(work) / root.name
        for other in also:
            relative = Path(f"{other}{TEMPLATE_SUFFIX}")
            if _inside(root, relative):
                (copy / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / relative, copy / relative)
        main = copy / f"{name}{TEMPLATE_SUFFIX}"
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_text(source, encoding="utf-8")
        for _ in range(_INCLUDE_DEPTH):
            missing = _missing_includes(root, copy)
            if not missing:
                break
            for relative in missing:
                (copy / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / relative, copy / relative)
        if (root / CATALOGS_DIR).is_dir():  # the translations, as they are (read only)
            (copy / CATALOGS_DIR).symlink_to((root / CATALOGS_DIR).resolve())
        yield copy


def _missing_includes(root: Path, copy: Path) -> set[Path]:
    """Files the copy includes that exist in the real folder but not yet in the copy."""
    wanted: set[Path] = set()
    for text in (file.read_text(encoding="utf-8") for file in copy.rglob(f"*{TEMPLATE_SUFFIX}")):
        for path in INCLUDE.findall(text):
            relative = Path(path.strip().lstrip("/"))
            if not (copy / relative).exists() and _inside(root, relative):
                wanted.add(relative)
    return wanted


def _inside(root: Path, relative: Path) -> bool:
    real = (root / relative).resolve()
    return real.is_relative_to(root.resolve()) and real.is_file()


def render_draft(shop: EditorShop, draft: Draft, now: datetime) -> DraftResult:
    """The draft's problems and, when it compiles, its preview for the chosen customer."""
    use, workflow_text, problems = _with_lines(shop, draft)
    checked = draft.name if use is None else use.step.template
    root = shop.templates_dir
    with draft_folder(root, draft.name, draft.source, also=[checked]) as folder:
        library = TemplateLibrary(
            folder, assets_dir=root / ASSETS_FOLDER, shop_locale=shop.settings.locale
        )
        try:
            library.compiled(checked)
        except MailengineError:
            problems += library.check(checked)
            if not any(problem.line for problem in problems):
                shown = display_path(folder, folder / f"{draft.name}{TEMPLATE_SUFFIX}")
                problems += [
                    TemplateProblem(shown, tag.line, tag.column, tag.message)
                    for tag in unbalanced_tags(draft.source)
                ]
            return DraftResult(_unique(problems), None, use, workflow_text)
        if use is None:
            problems += library.check(checked) + library.lint(checked)
            return DraftResult(_unique(problems), None, use, workflow_text)
        previewer = StepPreviewer(Composer(shop.settings, library, shop.secret), tracked=True)
        view = build_preview(previewer, shop.database, use.workflow, use.number, draft.who, now)
        if view.failure is not None:
            where = view.failure.location or SourceLocation(draft.name)
            problems.append(
                TemplateProblem(where.path, where.line, where.column, view.failure.message)
            )
        problems += library.check(checked) + _lint(library, use)
        return DraftResult(_unique(problems), view, use, workflow_text)


def _lint(library: TemplateLibrary, use: Use) -> list[TemplateProblem]:
    """What `validate` says of the step's template, subject and preheader."""
    step = use.step
    present = guaranteed(use.workflow, step)
    found = library.lint(step.template, present)
    for part, source, at in (
        ("subject", step.subject, step.subject_at),
        ("preheader", step.preheader, step.preheader_at),
    ):
        where = at or step.location
        for problem in library.check_line(
            source or "", path=where.path, line=where.line, column=where.column, present=present
        ):
            found.append(replace(problem, message=f"{part}: {problem.message}"))
    return found


def _unique(problems: Iterable[TemplateProblem]) -> tuple[TemplateProblem, ...]:
    return tuple(dict.fromkeys(problems))


def save_draft(
    shop: EditorShop, draft: Draft, opened: str, workflow_opened: str | None, now: datetime
) -> tuple[DraftResult, TemplateSource | None]:
    """Validate the draft as `validate` would (every workflow sending it) and, when nothing
    is wrong, write the changed workflow file and the template; `opened` and
    `workflow_opened` are the versions of the files the editor started from."""
    result = render_draft(shop, draft, now)
    problems = list(result.problems) + _problems_of_users(shop, draft, result.use)
    if problems or (draft.use is not None and result.view is None):
        return replace(result, problems=_unique(problems)), None
    template = template_file(shop.templates_dir, draft.name)
    _still(template, opened, display_path(shop.templates_dir, template))
    if result.workflow_text is not None:
        assert result.use is not None
        workflow_file = _workflow_file(shop, result.use.workflow)
        _still(workflow_file, workflow_opened, result.use.workflow.path)
        write_atomically(workflow_file, result.workflow_text.encode("utf-8"))
    return result, save_template(shop.templates_dir, draft.name, draft.source, opened)


def _problems_of_users(shop: EditorShop, draft: Draft, use: Use | None) -> list[TemplateProblem]:
    """What `validate` would find in every workflow that sends the draft, the previewed
    one with its typed subject and preheader."""
    loaded = load_workflows([shop.workflows_dir], shop.workflows_dir.parent).workflows
    if use is not None:
        loaded[use.workflow.name] = use.workflow
    users = {
        u.workflow.name: u.workflow
        for u in template_uses(loaded.values(), shop.templates_dir, draft.name)
    }
    found: list[TemplateProblem] = []
    sent = [name for workflow in users.values() for name in workflow.templates()]
    with draft_folder(shop.templates_dir, draft.name, draft.source, also=sent) as folder:
        library = TemplateLibrary(
            folder, assets_dir=shop.templates_dir / ASSETS_FOLDER, shop_locale=shop.settings.locale
        )
        for workflow in users.values():
            for problem in check_templates(workflow, library):
                where = problem.location
                found.append(TemplateProblem(where.path, where.line, where.column, problem.message))
    return found


def _still(file: Path, opened: str | None, shown: str) -> None:
    if opened is None or version_of(file.read_bytes()) != opened:
        raise ChangedOnDiskError(
            f"{shown} changed on disk since you opened it; nothing was saved. Copy your "
            "changes, reload the page, and apply them to the new version"
        )


def _with_lines(
    shop: EditorShop, draft: Draft
) -> tuple[Use | None, str | None, list[TemplateProblem]]:
    """The use with the typed subject and preheader, the workflow file's new text when they
    changed, and why they cannot be written if so."""
    use, lines = draft.use, draft.lines
    if use is None or lines is None:
        return use, None, []
    if (lines.subject, lines.preheader) == (use.step.subject, use.step.preheader or ""):
        return use, None, []
    file = _workflow_file(shop, use.workflow)
    try:
        text, workflow = with_step_lines(
            file.read_text(encoding="utf-8"), use.workflow.path, use.step.id, lines
        )
    except MailengineError as exc:
        where = exc.location or use.step.subject_at or use.step.location
        return use, None, [TemplateProblem(where.path, where.line, where.column, exc.message)]
    step = workflow.sends()[use.number - 1]
    return Use(workflow, step, use.number), text, []


def _workflow_file(shop: EditorShop, workflow: Workflow) -> Path:
    file = Path(workflow.path)
    return file if file.is_absolute() else shop.workflows_dir.parent / file
