"""HTML that travels as 7bit, unencoded: what one rendered message needs, per message.

Quoted-printable costs some 0.4-0.7 ms per 40 KB message; shaping and checking a 7bit body a
fifth to a third of that. A 7bit HTML body must be ASCII in lines of at most 998 octets (RFC
5322 2.1.1) and keep the body rules of `MimeBytes`: no tab, no run of two spaces, no space
before a line break, no line starting with "." or "From ".

The compiled HTML is shaped once, at compile time (`wire_html_source`), so that it mostly
renders that way; `shape_rendered_html` does per message what customer data brings in:
non-ASCII letters and blanks. Whatever neither can fix, the encoder finds and sends as
quoted-printable.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

BLANKS = "\t\n\f\r "


class RelaxedSafeText(str):
    """Text its maker has searched for the blanks DKIM's relaxed body canonicalisation would
    change, finding none: no tab, no two spaces in a row, no space before a line break or at
    the end, no CR. `encode_text_part` then skips that search (a third of its 7bit checks);
    whatever is made from it by str methods is a plain str again, and searched.
    """

    __slots__ = ()


class SevenBitHtml(RelaxedSafeText):
    """HTML its maker has seen to go as 7bit as it is: a RelaxedSafeText that is also ASCII
    without NUL, with lines of at most 998 characters, none starting with "." or "From ".
    `encode_text_part` then sends it without searching it again (some 60 µs on 40 KB)."""

    __slots__ = ()


# Blank runs DKIM's relaxed canonicalisation would change. The regex of all of them scans
# 40 KB in about 1 ms (no first character to look for), so tabs, which Jinja does not escape
# but customer data seldom holds, are looked for with `in`, and runs of spaces with a
# pattern that starts with a space (about 30 µs).
BAD_BLANKS = re.compile(r"[ \t]+(?=\n|\Z)|[ \t]*\t[ \t]*|  +")
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
    if shaping.charrefs:  # (a C1 control or a lone surrogate: all is left for the encoder)
        html = character_references(html)
    if not shaping.blanks:
        return html
    if "\t" in html:
        return BAD_BLANKS.sub(lambda match: _one_blank_in(html, match), html)
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
    if equals < 0 or html[equals + 1 : quote_at].strip(BLANKS):
        return False
    name = html[opened:equals].split()[-1].lower()
    if name == "class":
        return True
    if name != "style":
        return False
    value = html[quote_at + 1 : at]
    other_quote = "'" if html[quote_at] == '"' else '"'
    return "\\" not in value and value.count(other_quote) % 2 == 0


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


def character_references(text: str) -> str:
    """`text` with its non-ASCII characters as references, or as it is where one has none."""
    if text.isascii():
        return text
    try:
        return text.encode("ascii", _REFERENCES).decode("ascii")
    except UnicodeEncodeError:
        return text
