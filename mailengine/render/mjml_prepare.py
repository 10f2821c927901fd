"""MJML made ready for MRML (mjml-python), so that it lays a mail out as the `mjml` compiler does.

Three things MRML 1.4 gets wrong are mended in the source before it compiles:

- Sections of an `<mj-include>`d file lose the body's width (no `max-width:600px`, no
  Outlook `width="600"`): they stretch across wide windows. Includes of MJML are therefore
  put in place here, and MRML compiles one document.
- `<mj-body>` attributes given in `<mj-attributes>` (the brand's background colour, the
  width) are ignored: they are copied onto `<mj-body>` where it does not set them itself.
- A line break inside an attribute value (a long `style="..."` written over two lines) comes
  out as a literal `\\n`, and the browser drops the declaration: it becomes a space.
- A unitless `0` in a padding (`padding="0 16px"`) makes MRML read the whole padding as none
  when it works out the widths inside: images 16 px too wide. It becomes `0px`.

`Prepared.locate` maps a position in the prepared text back to the file and position it came
from, for MRML's error messages. Jinja tags pass through untouched.

It imports only the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# An element's start tag; a quoted value may hold `>` (and Jinja tags in it).
_TAG = re.compile(r"<(?P<name>[A-Za-z][\w:-]*)(?P<attrs>(?:\"[^\"]*\"|'[^']*'|[^>\"'])*)>")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_ATTRIBUTE = re.compile(r"([\w:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_INCLUDE = re.compile(
    r"<mj-include\b(?P<attrs>(?:\"[^\"]*\"|'[^']*'|[^>\"'])*?)\s*(?:/>|>\s*</mj-include\s*>)"
)
_WRAPPER = re.compile(r"</?(?:mjml|mj-body|mj-head)\b(?:\"[^\"]*\"|'[^']*'|[^>\"'])*>")
_ATTRIBUTES_BLOCK = re.compile(r"<mj-attributes\b[^>]*>(?P<inner>.*?)</mj-attributes\s*>", re.S)
_BODY_DEFAULTS = re.compile(r"<mj-body\b(?P<attrs>(?:\"[^\"]*\"|'[^']*'|[^>\"'/])*)/?>")
_BODY = re.compile(r"<mj-body\b(?P<attrs>(?:\"[^\"]*\"|'[^']*'|[^>\"'])*?)(?P<end>/?>)")
_PADDING = re.compile(
    r"(?P<name>\b(?:inner-)?padding(?:-(?:top|right|bottom|left))?\s*=\s*)"
    r"(?P<quote>[\"'])(?P<value>[^\"'{}]*)(?P=quote)"
)
_MAX_DEPTH = 16

Loader = Callable[[str], str]


class IncludeError(LookupError):
    """An include that cannot be put in place; `origin` and `offset` say where it is."""

    def __init__(self, message: str, origin: str | None, offset: int) -> None:
        super().__init__(message)
        self.origin = origin
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Piece:
    """`length` characters of the prepared text from `origin` (None: the root) at `offset`."""

    start: int
    length: int
    origin: str | None
    offset: int


@dataclass
class Prepared:
    text: str = ""
    pieces: list[Piece] = field(default_factory=list)

    def add(self, text: str, origin: str | None, offset: int) -> None:
        if text:
            self.pieces.append(Piece(len(self.text), len(text), origin, offset))
            self.text += text

    def locate(self, position: int) -> tuple[str | None, int]:
        """(include path or None for the root, offset in it) of a position of `text`."""
        for piece in reversed(self.pieces):
            if piece.start <= position:
                return piece.origin, piece.offset + min(position - piece.start, piece.length)
        return None, position


def prepare_mjml(source: str, loader: Loader) -> Prepared:
    """`source` with MJML includes put in place (read through `loader`) and mended as above."""
    expanded = Prepared()
    _expand(expanded, source, None, loader, 0)
    return _with_body_defaults(expanded)


def _expand(into: Prepared, text: str, origin: str | None, loader: Loader, depth: int) -> None:
    text = _zero_paddings_with_units(_attribute_lines_joined(text))
    done = 0
    for include in _INCLUDE.finditer(text):
        attributes = _attributes(include.group("attrs"))
        if attributes.get("type", "mjml") != "mjml" or "path" not in attributes:
            continue  # css and html includes: MRML puts them in place right
        into.add(text[done : include.start()], origin, done)
        done = include.end()
        path = attributes["path"]
        if depth >= _MAX_DEPTH:
            raise IncludeError(f"includes nested deeper than {_MAX_DEPTH}", origin, include.start())
        try:
            included = loader(path)
        except FileNotFoundError:
            raise IncludeError(
                f"included file {path!r} not found", origin, include.start()
            ) from None
        _expand(into, _unwrapped(included), path, loader, depth + 1)
    into.add(text[done:], origin, done)


def _unwrapped(text: str) -> str:
    """An included file written as a whole `<mjml><mj-body>...` document: its contents only
    (same length: the wrapper tags become spaces, positions stay right)."""
    if "<mjml" not in text:
        return text
    return _WRAPPER.sub(lambda tag: " " * len(tag.group(0)), text)


def _attribute_lines_joined(text: str) -> str:
    """Line breaks inside quoted attribute values become spaces (same length)."""

    def joined(tag: re.Match[str]) -> str:
        return _QUOTED.sub(lambda value: re.sub(r"[\r\n]", " ", value.group(0)), tag.group(0))

    return _TAG.sub(joined, text) if "\n" in text or "\r" in text else text


def _zero_paddings_with_units(text: str) -> str:
    """`padding="0 16px"` → `padding="0px 16px"` in MJML tags (positions after it in the same
    file move by two characters for each)."""

    def with_units(tag: re.Match[str]) -> str:
        if not tag.group("name").startswith("mj-"):
            return tag.group(0)
        return _PADDING.sub(
            lambda found: (
                found.group("name")
                + found.group("quote")
                + " ".join("0px" if part == "0" else part for part in found.group("value").split())
                + found.group("quote")
            ),
            tag.group(0),
        )

    return _TAG.sub(with_units, text) if "padding" in text else text


def _attributes(text: str) -> dict[str, str]:
    return {
        match.group(1): match.group(2) or match.group(3) or ""
        for match in _ATTRIBUTE.finditer(text)
    }


def _with_body_defaults(prepared: Prepared) -> Prepared:
    """`<mj-body>` with the attributes `<mj-attributes><mj-body .../>` gives and it lacks."""
    text = prepared.text
    defaults: dict[str, str] = {}
    blocks = list(_ATTRIBUTES_BLOCK.finditer(text))
    for block in blocks:
        for body in _BODY_DEFAULTS.finditer(block.group("inner")):
            defaults.update(_attributes(body.group("attrs")))
    if not defaults:
        return prepared
    for body in _BODY.finditer(text):
        if any(block.start() <= body.start() < block.end() for block in blocks):
            continue
        own = _attributes(body.group("attrs"))
        added = "".join(f' {name}="{value}"' for name, value in defaults.items() if name not in own)
        if not added:
            return prepared
        at = body.start("end")
        result = Prepared()
        for piece in prepared.pieces:
            end = piece.start + piece.length
            if piece.start < at <= end or (at == piece.start == 0):
                split = at - piece.start
                result.add(text[piece.start : at], piece.origin, piece.offset)
                result.add(added, piece.origin, piece.offset + split)
                result.add(text[at:end], piece.origin, piece.offset + split)
            else:
                result.add(text[piece.start : end], piece.origin, piece.offset)
        return result
    return prepared
