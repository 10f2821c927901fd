"""Compiled HTML shaped once, at compile time, so that each rendered message can go as 7bit.

MRML writes lines of thousands of characters, indentation and "€" as it is. `shape_html_source`
rewrites the compiled HTML only in ways an HTML parser (and Outlook's, inside `<!--[if mso]>`
comments) cannot tell apart, and never inside a Jinja construct: non-ASCII characters as
character references, whitespace runs as one blank, a space rather than a line break before
"." or "From ", and line breaks where a break is just more whitespace. It also says what
`wire_html.shape_rendered_html` may do to what the template renders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailengine.render.source_map import CONSTRUCT
from mailengine.render.wire_html import (
    BAD_BLANKS,
    BLANKS,
    NO_SHAPING,
    RenderedShaping,
    character_references,
)

FOLD_AT = 76  # lines are broken where they would pass this many characters
_CONSTRUCT = "\x00"  # stands for a Jinja construct while the source is shaped
_BREAK = "\x01"  # a line break may go here
_SPACE = "\x02"  # a space that may become a line break
_MARK = re.compile(f"([{_BREAK}{_SPACE}])")
_OWN_CHARACTERS = ("\x00", "\x01", "\x02")

# Whitespace that is not collapsible somewhere, so no whitespace run may be touched (CDATA
# sections too: text in SVG, a bogus comment in HTML).
_PRESERVED_WHITESPACE = re.compile(
    r"<(?:pre|textarea|script|xmp|listing|plaintext)\b|<!\[CDATA\[|xml:space"
    r"|white-space(?:-collapse)?\s*:\s*(?:pre|break-spaces|preserve)",
    re.IGNORECASE,
)
# Constructs that can put markup into the output (`| safe`, macros, captured blocks): the
# rendered markup could then hold style elements or attributes the source never showed.
_MAKES_MARKUP = re.compile(
    r"\b(?:safe|urlize|xmlattr|tojson|endset|endfilter|endmacro|endcall|endautoescape"
    r"|include|import|extends)\b"
)
_CSS_ELEMENTS = frozenset({"style"})
# (noscript is markup to mail clients, which run no scripts, and hidden where it is not)
_RAW_ELEMENTS = frozenset({"script", "xmp", "iframe", "noembed", "noframes", "plaintext"})
_RCDATA_ELEMENTS = frozenset({"title", "textarea"})  # text in which character references work

_WHITESPACE_RUN = re.compile(r"[\t\n\f\r ]+")
# A line break before "." or "From " (a transport would stuff the dot, mbox mangles "From "):
# a space there is the same whitespace.
_RISKY_LINE_START = re.compile(r"\n(?=\.|From )")
_RISKY_NEXT = (".", "From ", _CONSTRUCT)
_NO_BREAK_AFTER = BLANKS + _CONSTRUCT + _BREAK + _SPACE
# A space in text that may become a line break: after a plain ASCII character (not the end
# of a tag, a character reference or a construct, whose neighbour might be an East Asian
# character, between which browsers drop a line break), not before ".", "From " or a
# construct (the line would start with whatever it renders).
_TEXT_SPACE = re.compile(r"(?<=[!-~])(?<![;>}]) (?![.\x00]|From )")
_CONDITIONAL_START = re.compile(r"(<!--\[if[^\]]*\]>)")
_CSS_SPACE = re.compile(r"(?<![\x00\n]) (?![.\x00]|From )")
_CSS_PART = re.compile(
    r"""(?P<string>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)"""
    r"|(?P<comment>/\*.*?(?:\*/|\Z))"
    r"|(?P<escape>\\(?:[0-9A-Fa-f]{1,6}[\t\n\f\r ]?|.))"
    r"""|(?P<other>[^"'/\\]+|/)""",
    re.DOTALL,
)
_TAG_START = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)")
_IN_TAG = re.compile(
    r"""(?P<blank>[\t\n\f\r ]+)
    |(?P<end>/?>)
    |(?P<name>[^\t\n\f\r />="'<][^\t\n\f\r />="'<]*)
     (?:(?P<equals>[\t\n\f\r ]*=[\t\n\f\r ]*)
        (?:"(?P<double>[^"]*)"|'(?P<single>[^']*)'|(?P<bare>[^\t\n\f\r >"'=<`]+)))?
    |(?P<slash>/(?!>))""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class ShapedHtml:
    """The shaped source and what may be done to what it renders."""

    source: str
    rendered: RenderedShaping


def shape_html_source(source: str) -> ShapedHtml:
    """Compiled HTML (Jinja constructs in it, kept byte for byte) that renders the same and,
    rendered, mostly meets the 7bit wire rules.

    - Non-ASCII characters in text, attribute values, titles and comments become numeric
      character references (not in style or script content, where none are decoded).
    - Each whitespace run becomes one blank: a line break if it had one, else a space; in
      class and style values too (outside CSS strings), in no other attribute value. Not at
      all when the source has `<pre>`, `<textarea>`, `<script>`, `<xmp>`, `<listing>`,
      `<plaintext>`, `white-space: pre…` (or the like) anywhere: such a source only gets its
      character references, keeps its blanks, and goes as quoted-printable.
    - A line that would start with "." or "From " follows a space instead of a line break.
    - Lines passing `FOLD_AT` characters are broken, where a break is just more whitespace:
      before the ">" (or "/>") of a tag, at a blank between attributes, at a space in text
      after a plain ASCII character, at a space in CSS outside strings. Never in a
      `<!…>` construct (conditional comments, doctype), a quoted value, a Jinja construct, or
      between two tags. A line without such a place stays long.
    """
    if any(mark in source for mark in _OWN_CHARACTERS):
        return ShapedHtml(source, NO_SHAPING)
    constructs = [match.group() for match in CONSTRUCT.finditer(source)]
    masked = CONSTRUCT.sub(_CONSTRUCT, source)
    shaper = _Shaper(collapse=not _PRESERVED_WHITESPACE.search(source))
    marked = shaper.shape(masked)
    static = marked.replace(_BREAK, "").replace(_SPACE, " ")
    sound = not (
        shaper.malformed
        or shaper.constructs_in_raw
        or any(_MAKES_MARKUP.search(construct) for construct in constructs)
    )
    rendered = RenderedShaping(
        charrefs=sound and static.isascii(),
        blanks=(
            sound
            and shaper.collapse
            and not shaper.angle_in_value
            and not BAD_BLANKS.search(static)
        ),
    )
    pieces = iter(constructs)
    unmasked = re.sub(_CONSTRUCT, lambda _: next(pieces), marked)
    return ShapedHtml(_fold(unmasked) if shaper.collapse else unmasked, rendered)


class _Shaper:
    """One pass over masked compiled HTML (each construct one \\x00), writing the shaped HTML
    with break marks, and noting what keeps rendered output from being shaped safely."""

    def __init__(self, *, collapse: bool) -> None:
        self.collapse = collapse
        self.malformed = False  # a tag without its end: left as it is from there on
        self.constructs_in_raw = False  # a construct in style or script content
        self.angle_in_value = False  # a static attribute value with "<" or ">"
        self._out: list[str] = []

    def shape(self, masked: str) -> str:
        at, size = 0, len(masked)
        while at < size:
            opened = masked.find("<", at)
            if opened < 0:
                self._text(masked[at:])
                break
            self._text(masked[at:opened])
            at = self._markup(masked, opened)
        return "".join(self._out)

    # --- markup -----------------------------------------------------------------------------

    def _markup(self, masked: str, at: int) -> int:
        """Write the markup starting at `at` (a "<"); return where it ends."""
        if masked.startswith("<!--", at):
            if masked.startswith("[if", at + 4):
                return self._verbatim(masked, at, masked.find("]>", at) + 2)
            for empty in ("<!-->", "<!--->"):
                if masked.startswith(empty, at):
                    return self._verbatim(masked, at, at + len(empty))
            return self._comment(masked, at)
        if masked.startswith(("<!", "<?"), at) or (
            masked.startswith("</", at) and not masked[at + 2 : at + 3].isalpha()
        ):
            return self._verbatim(masked, at, masked.find(">", at + 2) + 1)
        tag = _TAG_START.match(masked, at)
        if tag is None:
            self._text("<")
            return at + 1
        end = self._tag(masked, tag)
        name = tag.group(2).lower()
        if tag.group(1) or end == len(masked):
            return end
        if name in _CSS_ELEMENTS or name in _RAW_ELEMENTS or name in _RCDATA_ELEMENTS:
            return self._content(masked, end, name)
        return end

    def _verbatim(self, masked: str, at: int, end: int) -> int:
        """Write an opaque piece (a conditional comment's start or end, a doctype)."""
        end = len(masked) if end <= at else end
        self._out.append(masked[at:end])
        return end

    def _comment(self, masked: str, at: int) -> int:
        ends = [masked.find(close, at + 4) for close in ("-->", "--!>")]
        found = min((end for end in ends if end >= 0), default=-1)
        end = len(masked) if found < 0 else found + (3 if masked.startswith("-->", found) else 4)
        comment = masked[at:end]
        if self.collapse:
            comment = _RISKY_LINE_START.sub(" ", _WHITESPACE_RUN.sub(_one_blank, comment))
        self._out.append(character_references(comment))
        return end

    def _tag(self, masked: str, tag: re.Match[str]) -> int:
        out = [tag.group()]
        at, size = tag.end(), len(masked)
        while at < size:
            token = _IN_TAG.match(masked, at)
            if token is None:
                break
            at = token.end()
            if token["blank"] is not None:
                out.append(self._tag_blank(token["blank"], masked[at : at + 5], out[-1][-1]))
            elif token["end"] is not None:
                if self.collapse and out[-1][-1] not in _NO_BREAK_AFTER:
                    out.append(_BREAK)  # (a bare value ending in "/" took it: `a=b/` `>`)
                out.append(token["end"])
                self._out.extend(out)
                return at
            elif token["name"] is not None:
                out.append(self._attribute(token))
            else:
                out.append(token["slash"])
        self.malformed = True  # no end: the rest stays as it is
        self._out.append(masked[tag.start() :])
        return size

    def _tag_blank(self, blank: str, following: str, before: str) -> str:
        if not self.collapse:
            return blank
        blank = "\n" if "\n" in blank or "\r" in blank else " "
        if blank == "\n":
            return " " if following.startswith((".", "From ")) else blank
        if before == _CONSTRUCT or following.startswith(_RISKY_NEXT):
            return blank
        return _SPACE

    def _attribute(self, token: re.Match[str]) -> str:
        if token["equals"] is None:
            return token["name"]
        equals = token["equals"]
        if self.collapse:
            equals = _WHITESPACE_RUN.sub(_one_blank, equals)
        for quote in ('"', "'", ""):
            value = token["double" if quote == '"' else "single" if quote else "bare"]
            if value is not None:
                break
        if "<" in value or ">" in value:
            self.angle_in_value = True
        name = token["name"].lower()
        if self.collapse and name == "class":
            value = _RISKY_LINE_START.sub(" ", _WHITESPACE_RUN.sub(_one_blank, value))
        elif self.collapse and name == "style":
            value = _css(value, breaks=False)
        return f"{token['name']}{equals}{quote}{character_references(value)}{quote}"

    def _content(self, masked: str, at: int, name: str) -> int:
        """Write the content of a style, raw text or RCDATA element; return where it ends."""
        close = re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE).search(masked, at)
        end = close.start() if close else len(masked)
        content = masked[at:end]
        if name in _RCDATA_ELEMENTS:
            if "<" in content:  # text to HTML, maybe markup to a lesser parser: left alone
                self._out.append(content)
            else:
                self._text(content)
            return end
        if _CONSTRUCT in content:
            self.constructs_in_raw = True
        if name in _CSS_ELEMENTS and self.collapse:
            content = _css(content, breaks=True)
        self._out.append(content)
        return end

    # --- text -------------------------------------------------------------------------------

    def _text(self, text: str) -> None:
        if not text:
            return
        if self.collapse:
            text = _WHITESPACE_RUN.sub(_one_blank, text)
            text = _marked(_TEXT_SPACE, _RISKY_LINE_START.sub(" ", text))
        self._out.append(character_references(text))


def _marked(spaces: re.Pattern[str], text: str) -> str:
    """`text` with the spaces `spaces` finds marked as break places, but not inside what
    reads as a conditional comment's start (`<!--[if mso | IE]>` as text in a title or CSS)."""
    if "<!" not in text:
        return spaces.sub(_SPACE, text)
    pieces = _CONDITIONAL_START.split(text)
    pieces[::2] = [spaces.sub(_SPACE, piece) for piece in pieces[::2]]
    return "".join(pieces)


def _one_blank(run: re.Match[str]) -> str:
    blanks = run.group()
    return "\n" if "\n" in blanks or "\r" in blanks else " "


def _css(css: str, *, breaks: bool) -> str:
    """CSS with whitespace runs collapsed outside strings and escapes, a space rather than a
    line break before "." (a class selector), and (with `breaks`) spaces marked as break
    places."""
    out: list[str] = []
    for part in _CSS_PART.finditer(css):
        text = part.group()
        if part["other"] is not None or part["comment"] is not None:
            text = _RISKY_LINE_START.sub(" ", _WHITESPACE_RUN.sub(_one_blank, text))
            if breaks and part["other"] is not None:
                text = _marked(_CSS_SPACE, text)
        out.append(text)
    return "".join(out)


def _fold(marked: str) -> str:
    """Marked HTML with lines longer than FOLD_AT broken at marks, the other marks removed."""
    return "\n".join(_fold_line(line) for line in marked.split("\n"))


def _fold_line(line: str) -> str:
    if len(line) <= FOLD_AT or (_BREAK not in line and _SPACE not in line):
        return line.replace(_BREAK, "").replace(_SPACE, " ")
    return "\n".join(_folded(_MARK.split(line)))


def _folded(pieces: list[str]) -> Iterator[str]:
    """Lines from alternating text and marks (text first and last), each broken at the last
    mark before it passes FOLD_AT; the marks not used removed."""
    current: list[str] = []
    column = 0
    last_mark = -1  # index in current
    for index, piece in enumerate(pieces):
        if index % 2:
            if column:  # (a mark at the start of a line would leave an empty line)
                last_mark = len(current)
            current.append(piece)
            column += piece == _SPACE
            continue
        current.append(piece)
        column += len(piece)
        if column > FOLD_AT and last_mark >= 0:
            head, current = current[:last_mark], current[last_mark + 1 :]
            yield _unmarked(head)
            column = len(_unmarked(current))
            last_mark = -1
    yield _unmarked(current)


def _unmarked(pieces: list[str]) -> str:
    return "".join(pieces).replace(_BREAK, "").replace(_SPACE, " ")
