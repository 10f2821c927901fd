"""What a template is made of: its own MJML and every file it includes, as text.

A workflow that loaded keeps these with its stored version, so that when a template file is
broken later the engine can still compile the template as it was. Plain data (no paths
outside the templates folder, no compiled code): safe to store and to hand between processes.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class TemplateSources:
    """Template `name` as text: `files` maps each path under the templates folder
    (`thank-you/order-confirmed.mjml`, `partials/footer.mjml`) to its content."""

    name: str
    files: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def digest(self) -> str:
        """sha256 over the name and every file: the same sources, the same digest. Computed
        once: every message of a batch that renders a stored version asks for it."""
        canonical = json.dumps(
            {"name": self.name, "files": dict(self.files)},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def text(self, relative: str) -> str:
        """One file by the path an `<mj-include path="...">` gives; KeyError if not kept."""
        return self.files[stored_path(relative)]


def stored_path(relative: str) -> str:
    """`/partials/./footer.mjml` → `partials/footer.mjml`; a path leaving the folder is
    refused (KeyError, as for a file that is not kept)."""
    normal = posixpath.normpath(relative.strip().lstrip("/"))
    if normal.startswith("..") or normal == ".":
        raise KeyError(relative)
    return normal
