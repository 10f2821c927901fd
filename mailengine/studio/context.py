"""What every studio page needs, built once per app and kept on `app.state.studio`.

Pages get it with `studio_context(request)`. It hands out the settings, the database, the
clock, the signing key and read-only views of the workflow and template folders; the files on
disk stay the source of truth, so each call reads them afresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from fastapi import Request

from mailengine.clock import Clock
from mailengine.config import Settings
from mailengine.outbound import Composer
from mailengine.render.library import TemplateLibrary
from mailengine.store.database import Database
from mailengine.workflows.copy_warnings import copy_warnings
from mailengine.workflows.loader import WorkflowSet
from mailengine.workflows.problems import Problem
from mailengine.workflows.validation import validate_workflows, workflow_sends


@dataclass(frozen=True)
class CheckedWorkflows:
    """The workflow files as validation found them, and the template library it used."""

    library: TemplateLibrary
    result: WorkflowSet
    warnings: list[Problem] = field(default_factory=list)  # see `copy_warnings`


@dataclass(frozen=True)
class StudioContext:
    """`sends_mail` is False under `mailengine studio`: the process serves pages only, and
    pages say so where it matters (nothing they queue goes out until the engine runs)."""

    settings: Settings
    database: Database
    clock: Clock
    secret: bytes
    sends_mail: bool = True
    _checked: dict[tuple[object, ...], CheckedWorkflows] = field(
        default_factory=dict, compare=False, repr=False
    )
    _checking: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    _libraries: dict[tuple[object, ...], TemplateLibrary] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def workflows_dir(self) -> Path:
        return self.settings.paths.workflows

    @property
    def templates_dir(self) -> Path:
        return self.settings.paths.templates

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over https when the public URL is https."""
        return self.settings.http.public_url.lower().startswith("https://")

    def template_library(self) -> TemplateLibrary:
        """The templates folder as it is now (a new library: edits on disk are seen)."""
        return TemplateLibrary(self.templates_dir, shop_locale=self.settings.locale)

    def kept_library(self) -> TemplateLibrary:
        """The templates folder as it is now, kept with what it compiled until a file in the
        folder changes (name, size or modification time): for pages that render on every
        visit. Compiling the shipped templates afresh takes ~0.3-0.8 s."""
        key = folder_state(self.templates_dir)
        with self._checking:
            found = self._libraries.get(key)
            if found is None:
                found = self.template_library()
                self._libraries.clear()
                self._libraries[key] = found
            return found

    def composer(self, library: TemplateLibrary | None = None) -> Composer:
        """A composer as the dispatcher has one, for previews (it sends nothing itself)."""
        return Composer(self.settings, library or self.template_library(), self.secret)

    def checked_workflows(self) -> CheckedWorkflows:
        """Every workflow file loaded and its templates checked, as `mailengine validate`
        does (without rendering for sample customers); problems name `workflows/x.yaml:L:C`.

        Checking the shipped templates takes over a second, so the result is kept until a
        file in the workflows or templates folder changes (name, size or modification time).
        Treat it as read-only."""
        key = folder_state(self.workflows_dir, self.templates_dir)
        with self._checking:
            found = self._checked.get(key)
            if found is None:
                library = self.template_library()
                result = validate_workflows(
                    [self.workflows_dir], self.templates_dir, self.workflows_dir.parent, library
                )
                sends = [s for w in result.workflows.values() for s in workflow_sends(w)]
                found = CheckedWorkflows(library, result, copy_warnings(sends, library))
                self._checked.clear()
                self._checked[key] = found
            return found


def folder_state(*folders: Path) -> tuple[object, ...]:
    """Every file under `folders` with its size and modification time."""
    state: list[object] = []
    for folder in folders:
        if not folder.is_dir():
            state.append((str(folder), None))
            continue
        for path in sorted(folder.rglob("*")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            state.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(state)


def studio_context(request: Request) -> StudioContext:
    return cast(StudioContext, request.app.state.studio)
