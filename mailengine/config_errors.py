"""The message for settings that do not validate: each wrong key with where it was set (the
config file's line and column, or the MAILENGINE_* variable) and, for an unknown key, what is
allowed there and the closest name.

May import the errors and the YAML source only (not `config`, which uses it)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

from mailengine.errors import ConfigError, SourceLocation
from mailengine.yamlsource import YamlDocument


def explain_invalid(
    error: ValidationError,
    root: type[BaseModel],
    document: YamlDocument | None,
    from_env: dict[tuple[str, ...], str],
) -> ConfigError:
    """One line per wrong key: where it was set (file:line:col, or the variable) and why."""
    lines = []
    for item in error.errors():
        key = tuple(str(part) for part in item["loc"])
        dotted = ".".join(key)
        if item["type"] == "extra_forbidden":
            message = _unknown_key_message(root, key)
        else:
            message = f"{dotted}: {item['msg']}"
        source = _source_of(key, document, from_env)
        lines.append(f"{source}: {message}" if source else message)
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines), location=None)


def _source_of(
    key: tuple[str, ...], document: YamlDocument | None, from_env: dict[tuple[str, ...], str]
) -> SourceLocation | str | None:
    for length in range(len(key), 0, -1):
        if key[:length] in from_env:
            return from_env[key[:length]]
    return document.location(key) if document is not None else None


def _unknown_key_message(root: type[BaseModel], key: tuple[str, ...]) -> str:
    parent, name = key[:-1], key[-1]
    model = root
    for part in parent:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    allowed = sorted(model.model_fields)
    where = ".".join(parent) or "the top level"
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{name}' in {where}{hint}; allowed: {', '.join(allowed)}"
