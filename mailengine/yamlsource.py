"""Load YAML safely and remember where every value came from, for `file:line:col` errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mailengine.errors import SourceError, SourceLocation

PathKey = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Plain data (dicts, lists, scalars) plus the location of each key and value."""

    path: str
    data: Any
    _locations: dict[PathKey, SourceLocation] = field(default_factory=dict)

    def location(self, key_path: PathKey) -> SourceLocation:
        """Where `key_path` is, or the closest enclosing place that exists."""
        probe = tuple(key_path)
        while probe:
            found = self._locations.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self._locations.get((), SourceLocation(self.path, 1, 1))

    def paths(self) -> Iterator[PathKey]:
        return iter(self._locations)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def load_yaml_text(text: str, path: str) -> YamlDocument:
    """Parse `text` (named `path` in messages) into a YamlDocument; errors name file:line:col."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:  # a character YAML does not allow, anywhere
        before = text[: error.position]
        place = SourceLocation(path, before.count("\n") + 1, len(before.rsplit("\n", 1)[-1]) + 1)
        message = f"invalid YAML: character U+{error.character:04X} is not allowed ({error.reason})"
        raise SourceError(message, location=place) from error
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, None, {(): SourceLocation(path, 1, 1)})
        locations: dict[PathKey, SourceLocation] = {}
        data = _build(loader, node, (), path, locations)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = SourceLocation(path, mark.line + 1, mark.column + 1) if mark else None
        problem = error.problem or error.context or "invalid YAML"
        raise SourceError(f"invalid YAML: {problem}", location=where) from error
    except yaml.YAMLError as error:
        raise SourceError(f"invalid YAML: {error}", location=SourceLocation(path)) from error
    finally:
        loader.dispose()
    return YamlDocument(path, data, locations)


def load_yaml_file(path: Path, display_path: str | None = None) -> YamlDocument:
    """Read and parse a YAML file; a missing or unreadable file is a SourceError."""
    shown = display_path or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise SourceError("file not found", location=SourceLocation(shown)) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(f"cannot read file: {error}", location=SourceLocation(shown)) from error
    return load_yaml_text(text, shown)


def _where(node: yaml.Node, path: str) -> SourceLocation:
    return SourceLocation(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    loader: _Loader,
    node: yaml.Node,
    key_path: PathKey,
    path: str,
    locations: dict[PathKey, SourceLocation],
) -> Any:
    locations[key_path] = _where(node, path)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise SourceError(f"unsupported YAML tag {node.tag}", location=_where(node, path))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | bool | float) or key is None:
                raise SourceError(
                    "a mapping key must be a plain word or number",
                    location=_where(key_node, path),
                )
            key_text = str(key)
            if key_text in result:
                raise SourceError(f"duplicate key '{key_text}'", location=_where(key_node, path))
            child_path = (*key_path, key_text)
            result[key_text] = _build(loader, value_node, child_path, path, locations)
            locations[child_path] = _where(key_node, path)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*key_path, index), path, locations)
            for index, item in enumerate(node.value)
        ]
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as error:  # a date YAML recognises that the calendar has not: 2027-02-30
        raise SourceError(
            f"invalid value {node.value!r}: {error}", location=_where(node, path)
        ) from error
