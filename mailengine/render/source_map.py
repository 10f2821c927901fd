"""Find Jinja constructs in MJML sources and map a line of compiled output back to its source.

MRML reflows the markup, so line N of the compiled HTML is not line N of the `.mjml` file.
Every `{{ }}` / `{% %}` survives compilation with its text unchanged, so an error is mapped
back by finding the same construct text in the sources (the main file and its includes).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mailengine.errors import SourceLocation

# A quote inside a construct may hide a closing delimiter, so quoted strings are skipped whole.
CONSTRUCT = re.compile(
    r"""\{\{(?:[^'"}]|'[^']*'|"[^"]*"|\}(?!\}))*\}\}"""
    r"""|\{%(?:[^'"%]|'[^']*'|"[^"]*"|%(?!\}))*%\}"""
    r"""|\{\#.*?\#\}""",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Construct:
    """One `{{ ... }}`, `{% ... %}` or `{# ... #}` at a place in a text."""

    text: str
    start: int
    line: int
    column: int

    @property
    def is_block(self) -> bool:
        return self.text.startswith("{%")

    @property
    def key(self) -> str:
        """The text without whitespace differences or whitespace-control marks (`{%-`, `-%}`)."""
        inner = self.text[2:-2].strip("-+")
        return self.text[:2] + " ".join(inner.split()) + self.text[-2:]


class LineIndex:
    """Offsets to 1-based line and column numbers."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


def constructs(text: str) -> Iterator[Construct]:
    """Every Jinja construct in `text`, in order, with its line and column."""
    index = LineIndex(text)
    for match in CONSTRUCT.finditer(text):
        line, column = index.position(match.start())
        yield Construct(match.group(), match.start(), line, column)


@dataclass(frozen=True, slots=True)
class Located:
    """A construct in a named source file."""

    construct: Construct
    path: str


@dataclass
class SourceMap:
    """The constructs of one template and its includes, looked up by their text."""

    _by_key: dict[str, list[Located]] = field(default_factory=dict)

    def add_source(self, path: str, text: str) -> None:
        for construct in constructs(text):
            self._by_key.setdefault(construct.key, []).append(Located(construct, path))

    def locate(self, compiled: str, line: int, name: str | None = None) -> SourceLocation | None:
        """Where the construct on `line` of `compiled` came from; prefer one that uses `name`."""
        on_line = [c for c in constructs(compiled) if c.line == line]
        if name:
            named = [c for c in on_line if re.search(rf"\b{re.escape(name)}\b", c.text)]
            on_line = named or on_line
        for construct in on_line:
            candidates = self._by_key.get(construct.key)
            if not candidates:
                continue
            if len(candidates) > 1:
                same = [c for c in constructs(compiled) if c.key == construct.key]
                if len(same) == len(candidates):
                    # MRML keeps document order for text, so the n-th copy is the n-th source.
                    found = candidates[same.index(construct)]
                    return _location(found)
            return _location(candidates[0])
        return None

    def locate_token(self, compiled: str, line: int, token: str) -> SourceLocation | None:
        """Where `token` on `line` of `compiled` was written: the file, its line and column.

        The construct around `line` (a multi-line one counts for each of its lines) is found
        in the sources by its text; `token` (a name, a filter) gives the column inside it.
        """
        everything = list(constructs(compiled))
        around = [c for c in everything if c.line <= line <= c.line + c.text.count("\n")]
        if token:
            around = [c for c in around if token in c.text] or around
        for construct in around:
            candidates = self._by_key.get(construct.key)
            if not candidates:
                continue
            same = [c for c in everything if c.key == construct.key]
            found = candidates[0]
            if len(candidates) > 1 and len(same) == len(candidates):
                found = candidates[same.index(construct)]
            return _token_location(found, token)
        return None


def _token_location(found: Located, token: str) -> SourceLocation:
    text = found.construct.text
    offset = text.find(token) if token else -1
    if offset < 0:
        return _location(found)
    before = text[:offset]
    line = found.construct.line + before.count("\n")
    start = before.rfind("\n")
    column = offset - start if start >= 0 else found.construct.column + offset
    return SourceLocation(found.path, line, column)


def _location(found: Located) -> SourceLocation:
    return SourceLocation(found.path, found.construct.line, found.construct.column)


def variable_on_line(compiled: str, line: int, name: str | None) -> str | None:
    """The dotted variable, e.g. `customer.first_name`, used on `line` that ends in `name`."""
    if not name:
        return None
    pattern = re.compile(
        rf"((?:[A-Za-z_]\w*)(?:\.[A-Za-z_]\w*|\[\d+\]|\[['\"][^'\"]+['\"]\])*?)"
        rf"(?:\.{re.escape(name)}\b|\[['\"]{re.escape(name)}['\"]\])"
    )
    for construct in constructs(compiled):
        if construct.line != line:
            continue
        match = pattern.search(construct.text)
        if match:
            return f"{match.group(1)}.{name}"
    return None
