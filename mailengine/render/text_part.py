"""Derive the plain-text Jinja template from compiled HTML, once per template.

Links become `text (url)`, images inside links their alt text, data tables one line per row;
head, styles and hidden elements (the preheader) are left out. Jinja constructs are carried
through: `{{ }}` as words, block tags (`{% if %}`, `{% for %}`) after the line breaks owed before
them, so a false condition leaves at most extra blank lines (collapsed by `tidy_text`) and a loop
repeats its rows one per line. Per recipient only Jinja and `tidy_text` run.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from mailengine.render.source_map import CONSTRUCT

_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_SPLIT = re.compile(f"({_OPEN}\\d+{_CLOSE})")

_SKIPPED = {"head", "style", "script", "title", "template", "noscript"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
_PARAGRAPH = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote",
    "section", "article", "header", "footer", "center", "td", "th", "pre", "address",
}  # fmt: skip
_LINE = {"tr", "li", "dt", "dd"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)
_NO_URL = ("#", "javascript:")


class _TextBuilder(HTMLParser):
    def __init__(self, constructs: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self._constructs = constructs
        self._parts: list[str] = []
        self._newlines = 0  # line breaks owed before the next word
        self._space = False  # a space owed before the next word
        self._line_start = True  # nothing but block tags written since the last line break
        self._trailing = 2  # line breaks written since the last word (2 at the very start)
        self._skip = 0  # depth inside a skipped element
        self._links: list[tuple[str, int, list[str]]] = []  # href, first part, image alts
        self._tables: list[bool] = []  # True for a data table (not role=presentation)
        self._cells = 0

    # --- output -----------------------------------------------------------------------------

    def text(self) -> str:
        return "".join(self._parts).strip() + "\n"

    def _break(self, count: int) -> None:
        if self._in_data_cell():
            self._space = True
        elif count > self._trailing:
            self._newlines = max(self._newlines, count - self._trailing)

    def _flush(self) -> None:
        if self._newlines:
            self._parts.append("\n" * self._newlines)
            self._line_start = True
            self._trailing += self._newlines
        elif self._space and not self._line_start and not self._parts[-1][-1:].isspace():
            self._parts.append(" ")
        self._newlines, self._space = 0, False

    def _word(self, word: str) -> None:
        self._flush()
        self._parts.append(word)
        self._line_start = False
        self._trailing = 0

    def _in_data_cell(self) -> bool:
        return bool(self._tables) and self._tables[-1] and self._cells > 0

    # --- parser callbacks --------------------------------------------------------------------

    def handle_data(self, data: str) -> None:
        for piece in _SPLIT.split(data):
            match = _PLACEHOLDER.fullmatch(piece)
            if match:
                if self._constructs[int(match.group(1))].startswith("{%"):
                    # Owed breaks go before the tag, outside the block: a false condition
                    # leaves only extra blank lines (tidied), a loop one row per line.
                    if not self._skip:
                        self._flush()
                    self._parts.append(piece)
                elif not self._skip:
                    self._word(piece)
                continue
            if self._skip or not piece:
                continue
            if piece[0].isspace():
                self._space = True
            words = piece.split()
            for index, word in enumerate(words):
                if index:
                    self._space = True
                self._word(word)
            if piece[-1].isspace():
                self._space = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if self._skip:
            self._skip += tag not in _VOID
            return
        if tag in _SKIPPED or _HIDDEN_STYLE.search(attributes.get("style", "")):
            self._skip = 0 if tag in _VOID else 1
            return
        if tag == "table":
            self._break(2)
            self._tables.append(attributes.get("role") != "presentation")
            self._cells = 0
        elif tag == "tr":
            self._cells = 0
            self._break(1)
        elif tag in ("td", "th") and self._tables and self._tables[-1]:
            if self._cells:
                self._space = True
                self._word("|")
                self._space = True
            self._cells += 1
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
            if tag == "li":
                self._word("-")
                self._space = True
        elif tag == "br":
            self._newlines += 1
        elif tag == "a":
            self._links.append((attributes.get("href", "").strip(), len(self._parts), []))
        elif tag == "img" and self._links:
            self._links[-1][2].append(attributes.get("alt", "").strip())

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            self._skip -= tag not in _VOID
            return
        if tag == "table" and self._tables:
            self._tables.pop()
            self._cells = 0
            self._break(2)
        elif tag == "tr":
            self._cells = 0
            self._break(1)
        elif tag in _PARAGRAPH and not (tag in ("td", "th") and self._in_data_cell()):
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        elif tag == "a" and self._links:
            self._end_link(*self._links.pop())

    def _resolved(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self._constructs[int(m.group(1))], text)

    def _end_link(self, href: str, first: int, alts: list[str]) -> None:
        label = "".join(self._parts[first:]).strip()
        if not label:
            alt = " ".join(a for a in alts if a)
            if alt:
                self._word(alt)
                label = alt
        if not href or href.startswith(_NO_URL):
            return
        url = href.removeprefix("mailto:")
        if label and self._resolved(url) not in self._resolved(label):
            self._space = True
            self._word(f"({url})")
        elif not label:
            self._word(url)


def html_to_text_template(html: str) -> str:
    """The text-part Jinja source for compiled, Jinja-bearing HTML."""
    constructs: list[str] = []

    def to_placeholder(match: re.Match[str]) -> str:
        constructs.append(match.group())
        return f"{_OPEN}{len(constructs) - 1}{_CLOSE}"

    builder = _TextBuilder(constructs)
    builder.feed(CONSTRUCT.sub(to_placeholder, html))
    builder.close()
    return _PLACEHOLDER.sub(lambda m: constructs[int(m.group(1))], builder.text())


_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACE_AT_LINE_END = re.compile(" \n")
_THREE_BREAKS = re.compile("\n\n\n")


def tidy_text(text: str) -> str:
    """Collapse the blank lines that false conditions leave behind.

    A text part has a euro sign or an accented letter (two bytes a character), where `in`
    with two characters takes some 1 ns a character: tabs are looked for alone first, and
    " \n" and three line breaks by the regex engine's literal search (a third faster):
    some 5 of 10 us."""
    if _SPACE_AT_LINE_END.search(text) or ("\t" in text and "\t\n" in text):
        text = _TRAILING_SPACE.sub("\n", text)
    if _THREE_BREAKS.search(text):
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip() + "\n"
