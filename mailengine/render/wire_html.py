"""Compiled HTML shaped once so that each rendered message can travel as 7bit, unencoded.

Quoted-printable costs some 0.4-0.7 ms per 40 KB message; shaping and checking a 7bit body a
fifth to a third of that. A 7bit HTML body must be ASCII in lines of at most 998 octets (RFC
5322 2.1.1) and keep the body rules of `MimeBytes`: no tab, no run of two spaces, no space
before a line break, no line starting with "." or "From ". MRML writes none of that: lines of
thousands of characters, indentation, "€" as it is.

`shape_html_source` rewrites the compiled HTML once, at compile time, only in ways an HTML
parser (and Outlook's, inside `<!--[if mso]>` comments) cannot tell apart, and never inside a
Jinja construct: non-ASCII characters as character references, whitespace runs as one blank,
a space rather than a line break before "." or "From ", and line breaks where a break is
just more whitespace (see `shape_html_source`). `shape_rendered_html` does per message what
customer data brings in: non-ASCII letters and blanks. Whatever neither can fix, the encoder
finds and sends as quoted-printable.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailengine.body_encoding import RelaxedSafeText
from mailengine.render.source_map import CONSTRUCT

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

_BLANKS = "\t\n\f\r "
_WHITESPACE_RUN = re.compile(r"[\t\n\f\r ]+")
# A line break before "." or "From " (a transport would stuff the dot, mbox mangles "From "):
# a space there is the same whitespace.
_RISKY_LINE_START = re.compile(r"\n(?=\.|From )")
_RISKY_NEXT = (".", "From ", _CONSTRUCT)
_NO_BREAK_AFTER = _BLANKS + _CONSTRUCT + _BREAK + _SPACE
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
# Blank runs DKIM's relaxed canonicalisation would change. The regex of all of them scans
# 40 KB in about 1 ms (no first character to look for), so tabs, which Jinja does not escape
# but customer data seldom holds, are looked for with `in`, and runs of spaces with a
# pattern that starts with a space (about 30 µs).
_BAD_BLANKS = re.compile(r"[ \t]+(?=\n|\Z)|[ \t]*\t[ \t]*|  +")
_BAD_SPACES = re.compile(r" [ \n]")  # (and a space at the very end: `endswith`)
_OUTSIDE_QUOTES = re.compile(r"""(?:[^"']+|"[^"]*"|'[^']*')*""")


@dataclass(frozen=True, slots=True)
class RenderedShaping:
    """What `shape_rendered_html` may do to one template's output.

    `charrefs`: turn every non-ASCII character into a character reference (no construct
    renders into style or script content, the static HTML is ASCII, no construct makes
    markup). `blanks`: collapse runs of blanks in text, between attributes and in class and
    style values (whitespace is collapsible in the whole template and the static HTML has no
    bad blanks left, so every run found comes from a construct).
    """

    charrefs: bool = False
    blanks: bool = False


NO_SHAPING = RenderedShaping()


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
            and not _BAD_BLANKS.search(static)
        ),
    )
    pieces = iter(constructs)
    unmasked = re.sub(_CONSTRUCT, lambda _: next(pieces), marked)
    return ShapedHtml(_fold(unmasked) if shaper.collapse else unmasked, rendered)


def shape_rendered_html(html: str, shaping: RenderedShaping) -> str:
    """One message's HTML with what customer data brought in made fit for 7bit, as far as
    `shaping` allows: CR line ends as LF, non-ASCII characters as character references, bad
    blank runs (two or more, a tab, before a line end) as one space or none. Without bad
    blanks left it is a RelaxedSafeText, which the encoder need not search for them again.

    When there is nothing to do it costs some 35 µs on 40 KB (`in`, `isascii`, one regex
    search, which the encoder then skips); character references for a few non-ASCII
    letters some 30-50 µs more.
    """
    if "\r" in html:  # what any HTML parser does first, even in attribute values and <pre>
        html = html.replace("\r\n", "\n").replace("\r", "\n")
    if shaping.charrefs and not html.isascii():
        # (a C1 control or a lone surrogate raises: then all is left for the encoder)
        with contextlib.suppress(UnicodeEncodeError):
            html = html.encode("ascii", _REFERENCES).decode("ascii")
    if not shaping.blanks:
        return html
    if "\t" in html:
        return _BAD_BLANKS.sub(lambda match: _one_blank_in(html, match), html)
    at = _next_bad_spaces(html, 0)
    if at >= 0:
        html, all_collapsed = _collapse_spaces(html, at)
        if not all_collapsed:
            return html
    return RelaxedSafeText(html)  # (the encoder need not search it for blanks again)


def _one_blank_in(html: str, match: re.Match[str]) -> str:
    if not _may_collapse(html, match.start()):
        return match.group()
    return _one_blank_before(html, match.end())


def _one_blank_before(html: str, end: int) -> str:
    """What a bad blank run ending at `end` becomes: none before a line break, a line break
    at the very end (a space there would end the body's last line), else one space."""
    if end == len(html):
        return "\n"
    return "" if html[end] == "\n" else " "


def _collapse_spaces(html: str, at: int) -> tuple[str, bool]:
    """`html` with each bad run of spaces from `at` on (two or more, or before a line end)
    one space or none where `_may_collapse`, and whether that was everywhere. One pass of
    the search, not a `sub` after it."""
    pieces: list[str] = []
    done, size, everywhere = 0, len(html), True
    while at >= 0:
        end = at + 1
        while end < size and html[end] == " ":
            end += 1
        pieces.append(html[done:at])
        if _may_collapse(html, at):
            pieces.append(_one_blank_before(html, end))
        else:
            pieces.append(html[at:end])
            everywhere = False
        done = end
        at = _next_bad_spaces(html, end)
    pieces.append(html[done:])
    return "".join(pieces), everywhere


def _next_bad_spaces(html: str, start: int) -> int:
    """Where the next run of two or more spaces, or of spaces before a line break or at the
    end, starts from `start` on; -1 if none does."""
    found = _BAD_SPACES.search(html, start)
    if found:
        return found.start()
    if html.endswith(" ") and len(html.rstrip(" ")) >= start:
        return len(html.rstrip(" "))
    return -1


def _may_collapse(html: str, at: int) -> bool:
    """Whether blanks at `at` in rendered HTML may be collapsed: in text, between attributes,
    in a class value or a style value outside CSS strings.

    Exact for output of a template whose RenderedShaping allows blanks: no static attribute
    value holds "<" or ">", and Jinja escapes them (and quotes) in what it renders.
    """
    opened = html.rfind("<", 0, at)
    if opened <= html.rfind(">", 0, at):
        return True
    head = _OUTSIDE_QUOTES.match(html, opened, at)
    if head is None or head.end() == at:
        return True
    quote_at = head.end()
    equals = html.rfind("=", opened, quote_at)
    if equals < 0 or html[equals + 1 : quote_at].strip(_BLANKS):
        return False
    name = html[opened:equals].split()[-1].lower()
    if name == "class":
        return True
    if name != "style":
        return False
    value = html[quote_at + 1 : at]
    other_quote = "'" if html[quote_at] == '"' else '"'
    return "\\" not in value and value.count(other_quote) % 2 == 0


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
        self._out.append(_character_references(comment))
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
        return f"{token['name']}{equals}{quote}{_character_references(value)}{quote}"

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
        self._out.append(_character_references(text))


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


def _reference(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a run of non-ASCII characters as numeric character references.

    Not for C1 controls (HTML reads `&#133;` as windows-1252's "…", not U+0085) nor lone
    surrogates (read as U+FFFD): no reference means them, so the error is raised again.
    """
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    references = _REFERENCES_OF.get(run)
    if references is None:
        if not all("\x9f" < character < "\ud800" or character > "\udfff" for character in run):
            raise error
        references = "".join([f"&#{ord(character)};" for character in run])
        if len(run) == 1:  # single letters (ä, é, €) recur; whole runs seldom do
            _REFERENCES_OF[run] = references
    return references, error.end


_REFERENCES = "mailengine.html-references"
_REFERENCES_OF: dict[str, str] = {}
codecs.register_error(_REFERENCES, _reference)


def _character_references(text: str) -> str:
    """`text` with its non-ASCII characters as references, or as it is where one has none."""
    if text.isascii():
        return text
    try:
        return text.encode("ascii", _REFERENCES).decode("ascii")
    except UnicodeEncodeError:
        return text


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
