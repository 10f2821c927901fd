"""The workflows in force, and every older version customers may still be walking through."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailengine.store.database import Database
from mailengine.store.enrollments import remember_version, version_source
from mailengine.workflows.loader import WorkflowSet, load_workflows, parse_workflow
from mailengine.workflows.model import Workflow
from mailengine.yamlsource import load_yaml_text


@dataclass(frozen=True)
class ReloadResult:
    loaded: list[str]
    changed: list[str]
    problems: list[str]


class WorkflowRegistry:
    """Current workflows by name; older versions rebuilt from the store on demand."""

    def __init__(self, database: Database, folder: Path, display_base: Path | None = None) -> None:
        self._database = database
        self._folder = folder
        self._display_base = display_base
        self._current: dict[str, Workflow] = {}
        self._versions: dict[tuple[str, str], Workflow] = {}
        self._lock = threading.Lock()

    def load(self, now: datetime) -> ReloadResult:
        """Validate every file; on any problem keep what is in force and report the problems."""
        found: WorkflowSet = load_workflows([self._folder], self._display_base)
        if not found.ok:
            return ReloadResult([], [], [str(problem) for problem in found.problems])
        with self._database.transaction() as session:
            for workflow in found.workflows.values():
                source = (self._folder / Path(workflow.path).name).read_text(encoding="utf-8")
                remember_version(
                    session, workflow.name, workflow.version, workflow.path, source, now
                )
        with self._lock:
            changed = [
                name
                for name, workflow in found.workflows.items()
                if name not in self._current or self._current[name].version != workflow.version
            ]
            self._current = dict(found.workflows)
            for workflow in found.workflows.values():
                self._versions[(workflow.name, workflow.version)] = workflow
        return ReloadResult(sorted(found.workflows), sorted(changed), [])

    def current(self) -> dict[str, Workflow]:
        with self._lock:
            return dict(self._current)

    def get(self, name: str) -> Workflow | None:
        with self._lock:
            return self._current.get(name)

    def version(self, name: str, version: str) -> Workflow | None:
        """The workflow as it was at `version` (from memory, else from the stored source)."""
        with self._lock:
            known = self._versions.get((name, version))
        if known is not None:
            return known
        with self._database.session() as session:
            stored = version_source(session, name, version)
        if stored is None:
            return None
        path, source = stored
        workflow, problems = parse_workflow(load_yaml_text(source, path))
        if workflow is None or problems:
            return None
        with self._lock:
            self._versions[(name, version)] = workflow
        return workflow
