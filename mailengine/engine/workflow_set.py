"""Which workflows the engine runs: every file that loads with the templates it sends, and in
place of each broken file its last good stored version, or nothing when it never loaded.

A file is broken when it does not load (YAML, schema, a name another file has) or when a
template it sends is missing or does not compile, or a subject or preheader is not Jinja:
what would stop every one of its mails. The stored version runs with the template sources
stored with it, so a broken template file breaks nothing that once worked.
May import: workflows, render, and the store's plain records (no database access here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from mailengine.errors import SourceError
from mailengine.render.library import TemplateLibrary
from mailengine.store.workflow_files import BrokenFile, GoodVersion
from mailengine.workflows.loader import load_workflows, parse_workflow
from mailengine.workflows.model import Workflow
from mailengine.workflows.problems import Problem
from mailengine.workflows.validation import sending_problems
from mailengine.yamlsource import load_yaml_text


@dataclass(frozen=True)
class Loaded:
    """A workflow ready to run, with the YAML and template sources it was built from;
    `stored`: its file's last good stored version, running in place of the broken file."""

    workflow: Workflow
    version: GoodVersion
    stored: bool = False


@dataclass
class FileProblems:
    """What is wrong with one workflow file (and the workflow's name, when it is known)."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    workflow: str | None = None


@dataclass
class FolderCheck:
    """The workflows folder: the files that load (`loaded`), the broken ones by file name."""

    loaded: list[Loaded] = field(default_factory=list)
    broken: dict[str, FileProblems] = field(default_factory=dict)

    def problems(self) -> list[str]:
        return [str(problem) for item in self.broken.values() for problem in item.problems]


def check_folder(folder: Path, display_base: Path | None, library: TemplateLibrary) -> FolderCheck:
    """Load every file and compile what it sends (through `library`, whose cache is what
    the engine then sends); each file is loaded or broken, never both."""
    found = load_workflows([folder], display_base)
    check = FolderCheck()
    for problem in found.problems:
        path = problem.location.path
        check.broken.setdefault(Path(path).name, FileProblems(path)).problems.append(problem)
    compiled: dict[str, list[Problem]] = {}
    for workflow in found.workflows.values():
        file = Path(workflow.path).name
        problems = sending_problems(workflow, library, compiled)
        if problems:
            check.broken[file] = FileProblems(workflow.path, problems, workflow.name)
            continue
        templates = {name: library.compiled(name).sources for name in workflow.templates()}
        version = GoodVersion(
            file=file,
            name=workflow.name,
            version=workflow.version,
            path=workflow.path,
            source=(folder / file).read_text(encoding="utf-8"),
            templates=templates,
        )
        check.loaded.append(Loaded(workflow, version))
    return check


def fall_back(
    check: FolderCheck,
    stored: Mapping[str, GoodVersion],
    library: TemplateLibrary,
    now: datetime,
) -> tuple[list[Loaded], list[BrokenFile]]:
    """The stored versions that run in place of broken files, and a report of every broken
    file saying which version runs, or why none does."""
    taken = {item.workflow.name for item in check.loaded}
    running: list[Loaded] = []
    reports: list[BrokenFile] = []
    for file, found in sorted(check.broken.items()):
        good = stored.get(file)
        loaded, note = _stored_version(good, taken, library)
        if loaded is not None:
            taken.add(loaded.workflow.name)
            running.append(loaded)
        reports.append(
            BrokenFile(
                file=file,
                path=found.path,
                problems=tuple(str(problem) for problem in found.problems),
                found_at=now,
                workflow=found.workflow or (good.name if good is not None else None),
                running_version=loaded.version.version if loaded is not None else None,
                running_stored_at=loaded.version.stored_at if loaded is not None else None,
                note=note,
            )
        )
    return running, reports


def _stored_version(
    good: GoodVersion | None, taken: set[str], library: TemplateLibrary
) -> tuple[Loaded | None, str | None]:
    if good is None:
        return None, "no version of it ever loaded"
    if good.name in taken:
        return None, f"another file runs a workflow named '{good.name}'"
    try:
        workflow, problems = parse_workflow(load_yaml_text(good.source, good.path))
    except SourceError as error:
        return None, f"its stored version does not load any more: {error}"
    if workflow is None or problems:
        first = problems[0] if problems else "no workflow"
        return None, f"its stored version does not load any more: {first}"
    for name in workflow.templates():
        sources = good.templates.get(name)
        if sources is None:
            return None, f"the sources of template '{name}' were not stored with it"
        try:
            library.compiled(name, sources)
        except SourceError as error:
            return None, f"its stored template '{name}' does not compile any more: {error}"
    return Loaded(workflow, good, stored=True), None


def broken_file_text(found: BrokenFile, zone: ZoneInfo) -> str:
    """A broken file for the log: its problems, then the version that runs or why none."""
    lines = [f"workflow file {found.path} is broken:", *found.problems]
    if found.running_stored_at is not None:
        stored_at = found.running_stored_at.astimezone(zone).replace(microsecond=0)
        lines.append(f"running the version stored at {stored_at.isoformat(sep=' ')}")
    else:
        lines.append(f"not running: {found.note}")
    return "\n  ".join(lines)


def loaded_names(loaded: Sequence[Loaded]) -> list[str]:
    return sorted(item.workflow.name for item in loaded)
