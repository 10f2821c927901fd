"""Find the MJML element a template leaves open, at its line and column.

MRML reports an element that is never closed as "unexpected end of stream" without a place;
the editor then looks for it here: `mjml` and `mj-*` elements opened and not closed, or
closed by the wrong end tag. Jinja constructs are skipped.

Pure: text in, places out. It may import the shared vocabulary only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(
    r"<(?P<end>/?)(?P<name>mjml|mj-[A-Za-z-]+)\b(?P<rest>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>"
)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_EMPTY = frozenset({"mj-include", "mj-breakpoint", "mj-font", "mj-all", "mj-class"})


@dataclass(frozen=True)
class OpenTag:
    line: int
    column: int
    message: str


def unbalanced_tags(text: str) -> list[OpenTag]:
    """Elements left open or closed by the wrong end tag; empty when all are balanced."""
    blank = _COMMENT.sub(_spaces, _JINJA.sub(_spaces, text))
    stack: list[tuple[str, int]] = []
    found: list[OpenTag] = []
    for tag in _TAG.finditer(blank):
        name = tag.group("name")
        if tag.group("end"):
            if stack and stack[-1][0] == name:
                stack.pop()
            elif any(open_name == name for open_name, _ in stack):
                while stack[-1][0] != name:
                    open_name, at = stack.pop()
                    found.append(_place(text, at, f"<{open_name}> is never closed"))
                stack.pop()
            else:
                found.append(_place(text, tag.start(), f"</{name}> closes nothing"))
        elif not tag.group("rest").rstrip().endswith("/") and name not in _EMPTY:
            stack.append((name, tag.start()))
    found.extend(_place(text, at, f"<{name}> is never closed") for name, at in stack)
    return sorted(found, key=lambda item: (item.line, item.column))


def _spaces(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _place(text: str, offset: int, message: str) -> OpenTag:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return OpenTag(line, column, message)
