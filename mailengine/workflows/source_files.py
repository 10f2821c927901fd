"""Load YAML files that each describe one named thing (a workflow, a broadcast).

Every problem is kept with its `file:line:col`; a file that is wrong never stops the others
from loading; a name used by two files is a problem at the second one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

from mailengine.errors import SourceError, SourceLocation
from mailengine.workflows.problems import Problem
from mailengine.yamlsource import YamlDocument, load_yaml_file

YAML_SUFFIXES = (".yaml", ".yml")


class Named(Protocol):
    @property
    def name(self) -> str: ...


Item = TypeVar("Item", bound=Named)


def yaml_files(folder: Path) -> list[Path]:
    """The YAML files in `folder`, sorted by name."""
    return sorted(path for path in folder.iterdir() if path.suffix in YAML_SUFFIXES)


def load_named_files(
    paths: Iterable[Path],
    display_base: Path | None,
    parse: Callable[[YamlDocument], tuple[Item | None, list[Problem]]],
    kind: str,
) -> tuple[dict[str, Item], list[Problem]]:
    """Parse each file (a folder stands for its YAML files) with `parse`; what loaded by
    name, and every problem found. `kind` names the things in messages ("workflow")."""
    loaded: dict[str, Item] = {}
    problems: list[Problem] = []
    first_seen: dict[str, SourceLocation] = {}
    for path in expand(paths):
        shown = display(path, display_base)
        try:
            document = load_yaml_file(path, shown)
        except SourceError as error:
            problems.append(Problem(error.location or SourceLocation(shown), error.message))
            continue
        item, found = parse(document)
        problems.extend(sorted(found, key=position))
        if item is None:
            continue
        name_at = document.location(("name",))
        other = first_seen.get(item.name)
        if other is not None:
            problems.append(
                Problem(
                    name_at,
                    f"the name '{item.name}' is already used by {other.path} (line "
                    f"{other.line}): {kind} names must be unique",
                )
            )
            continue
        first_seen[item.name] = name_at
        loaded[item.name] = item
    return loaded, problems


def expand(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder replaced by its YAML files."""
    files: list[Path] = []
    for path in paths:
        files.extend(yaml_files(path) if path.is_dir() else [path])
    return files


def display(path: Path, base: Path | None) -> str:
    """`path` as problems show it: relative to `base` when it is inside it."""
    if base is not None:
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def position(problem: Problem) -> tuple[int, int]:
    return (problem.location.line or 0, problem.location.column or 0)
