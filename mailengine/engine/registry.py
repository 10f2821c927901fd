"""The workflows in force, and every older version customers may still be walking through.

A version that runs in place of a broken file (its last good stored version) sends the
templates stored with it: `pinned_template` names their digest for the sends it plans.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailengine.engine.workflow_set import Loaded, check_folder, fall_back, loaded_names
from mailengine.render.library import TemplateLibrary
from mailengine.store.database import Database
from mailengine.store.enrollments import remember_version, version_source
from mailengine.store.workflow_files import (
    BrokenFile,
    last_good_versions,
    record_broken_files,
    remember_good_versions,
)
from mailengine.workflows.loader import parse_workflow
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
        self._pins: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def start(self, now: datetime, library: TemplateLibrary) -> tuple[list[str], list[BrokenFile]]:
        """Run every file that loads and, for each broken one, its last good stored version;
        (the workflows running, a report of each broken file)."""
        check = check_folder(self._folder, self._display_base, library)
        with self._database.session() as session:
            stored = last_good_versions(session, list(check.broken))
        fallen, broken = fall_back(check, stored, library, now)
        running = [*check.loaded, *fallen]
        self.install(running, broken, now)
        return loaded_names(running), broken

    def load(self, now: datetime, library: TemplateLibrary) -> ReloadResult:
        """Validate every file and what it sends; on any problem keep what is in force and
        report the problems."""
        check = check_folder(self._folder, self._display_base, library)
        if check.broken:
            return ReloadResult([], [], check.problems())
        changed = self.install(check.loaded, [], now)
        return ReloadResult(loaded_names(check.loaded), changed, [])

    def install(
        self, running: Sequence[Loaded], broken: Sequence[BrokenFile], now: datetime
    ) -> list[str]:
        """Put `running` in force; store each version (and, for the ones that loaded from
        their files, as their file's last good one) and what was found broken. The names
        whose version changed."""
        with self._database.transaction() as session:
            for item in running:
                good = item.version
                remember_version(session, good.name, good.version, good.path, good.source, now)
            remember_good_versions(session, [i.version for i in running if not i.stored], now)
            record_broken_files(session, broken)
        with self._lock:
            changed = [
                item.workflow.name
                for item in running
                if item.workflow.name not in self._current
                or self._current[item.workflow.name].version != item.workflow.version
            ]
            self._current = {item.workflow.name: item.workflow for item in running}
            for item in running:
                key = (item.workflow.name, item.workflow.version)
                self._versions[key] = item.workflow
                self._pins[key] = item.version.digests() if item.stored else {}
        return sorted(changed)

    def current(self) -> dict[str, Workflow]:
        with self._lock:
            return dict(self._current)

    def get(self, name: str) -> Workflow | None:
        with self._lock:
            return self._current.get(name)

    def pinned_template(self, workflow: Workflow, template: str) -> str | None:
        """The digest of the stored sources `workflow` sends `template` from, or None when
        it sends the templates folder's."""
        with self._lock:
            return self._pins.get((workflow.name, workflow.version), {}).get(template)

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
