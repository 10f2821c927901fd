"""A broadcast sent to the API as JSON: read by the broadcast files' own loader, every problem
answered as a 422 naming its field (`["body", "ab_test", "variants", 1, "share"]`).

JSON is YAML, so `parse_broadcast` reads it. The body is first read as strict JSON and written
out again, indented: the YAML reader then meets only the JSON it reads well (no tabs, no
`\\/`), and every key and value sits at its own line and column, so that a problem's
`line:col` leads back to exactly one field. That text is what the broadcast stores as its
source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError

from mailengine.broadcasts.loader import parse_broadcast
from mailengine.broadcasts.model import Broadcast
from mailengine.errors import SourceError
from mailengine.workflows.problems import Problem
from mailengine.yamlsource import PathKey, YamlDocument, load_yaml_text

BODY_NAME = "request body"  # how problems name the body's text: `request body:3:5`
# What the YAML reader takes (yaml.reader.Reader.NON_PRINTABLE): the rest is refused.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class BroadcastBody:
    """The broadcast a request describes, its JSON as stored, and where each field is."""

    broadcast: Broadcast
    source: str
    document: YamlDocument


def read_body(raw: bytes) -> BroadcastBody:
    """The broadcast in a request body; a RequestValidationError naming each wrong field."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise _refused([(("body",), f"the body is not JSON: {error}")]) from None
    unreadable = list(_unreadable(data, ("body",)))
    if unreadable:
        raise _refused(unreadable)
    source = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        document = load_yaml_text(source, BODY_NAME)
    except SourceError as error:
        raise _refused([(("body",), error.message)]) from None
    found, problems = parse_broadcast(document)
    if found is None:
        raise refusal(problems, document)
    return BroadcastBody(found, source, document)


def refusal(problems: Iterable[Problem], document: YamlDocument) -> RequestValidationError:
    """A 422 for `problems`: each at the field its location is in. A problem in another file
    (a template the broadcast sends) names the `template` field and keeps its own place in
    the message."""
    fields = _fields_by_place(document)
    found: list[tuple[PathKey, str]] = []
    for problem in problems:
        where = problem.location
        if where.path == document.path:
            at = fields.get((where.line, where.column), ())
            found.append((("body", *at), problem.message))
        else:
            found.append((("body", "template"), str(problem)))
    return _refused(found)


def _fields_by_place(document: YamlDocument) -> dict[tuple[int | None, int | None], PathKey]:
    """(line, column) -> the deepest field that starts there."""
    fields: dict[tuple[int | None, int | None], PathKey] = {}
    for path in document.paths():
        where = document.location(path)
        place = (where.line, where.column)
        if len(path) >= len(fields.get(place, ())):
            fields[place] = path
    return fields


def _refused(found: list[tuple[PathKey, str]]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": list(at), "msg": message, "type": "value_error"} for at, message in found]
    )


def _unreadable(value: Any, at: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Each text (key or value) with a character the YAML reader refuses: control
    characters, lone surrogates, U+FFFE and U+FFFF."""
    if isinstance(value, str):
        bad = _NOT_YAML.search(value)
        if bad is not None:
            yield at, f"contains the character U+{ord(bad.group()):04X}, which text may not hold"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unreadable(key, (*at, key))
            yield from _unreadable(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unreadable(item, (*at, index))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
