"""Static checks of MJML templates for the pitfalls of compiling once with MRML.

Problems are data (`TemplateProblem`) so `validate` can print them as `path:line:col: message`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError

from mailengine.errors import SourceError, SourceLocation
from mailengine.render.assets import ASSETS_FOLDER, AssetCatalog
from mailengine.render.environment import MailSandbox
from mailengine.render.mjml_cache import (
    compile_template,
    display_path,
    resolve_include,
    template_path,
)
from mailengine.render.source_map import Construct, LineIndex, constructs


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong in a template file, at a place."""

    path: str
    line: int | None
    column: int | None
    message: str

    @property
    def location(self) -> SourceLocation:
        return SourceLocation(self.path, self.line, self.column)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


_TAG = re.compile(r"<(?P<name>[A-Za-z][\w:-]*)(?P<attrs>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)/?>")
_ATTRIBUTE = re.compile(r"(?P<name>[\w:-]+)\s*=\s*(?P<value>\"[^\"]*\"|'[^']*')")
INCLUDE = re.compile(r"<mj-include\b[^>]*?\bpath\s*=\s*[\"']([^\"']+)[\"']")
_INLINE_STYLE = re.compile(
    r"<mj-style\b[^>]*\binline\s*=\s*[\"']inline[\"'][^>]*>(.*?)</mj-style\s*>", re.DOTALL
)
_ATTRIBUTE_DEFAULTS = re.compile(r"<mj-attributes\b.*?</mj-attributes\s*>", re.DOTALL)
_SECTION = re.compile(r"<mj-(section|group)\b.*?</mj-\1\s*>", re.DOTALL)
Reporter = Callable[[int, str], None]
_COMPUTED_WIDTH = {"mj-image", "mj-column", "mj-group", "mj-body"}
# The components MRML (mjml-python 1.4) knows; any other `mj-` tag is copied into the HTML
# as an unknown element: a misspelt <mj-sectoin> loses its layout without an error.
MRML_TAGS = frozenset(
    {
        "mjml", "mj-head", "mj-body", "mj-include", "mj-attributes", "mj-all", "mj-class",
        "mj-breakpoint", "mj-font", "mj-preview", "mj-style", "mj-title", "mj-raw",
        "mj-accordion", "mj-accordion-element", "mj-accordion-text", "mj-accordion-title",
        "mj-button", "mj-carousel", "mj-carousel-image", "mj-column", "mj-divider",
        "mj-group", "mj-hero", "mj-image", "mj-navbar", "mj-navbar-link", "mj-section",
        "mj-social", "mj-social-element", "mj-spacer", "mj-table", "mj-text", "mj-wrapper",
    }
)  # fmt: skip
_IMAGE_TAGS = {"mj-image", "img"}


def find_problems(
    root: Path,
    name: str,
    html_env: MailSandbox,
    compile_named: Callable[[str], object] | None = None,
) -> list[TemplateProblem]:
    """Every problem found in template `name` and the files it includes; when none is found
    the template is compiled (by `compile_named`, e.g. a cache's) to find what MRML says."""
    try:
        main = template_path(root, name)
    except SourceError as exc:
        return [TemplateProblem(name, None, None, exc.message)]
    if not main.is_file():
        return [TemplateProblem(display_path(root, main), None, None, "template does not exist")]
    problems: list[TemplateProblem] = []
    for file in included_files(root, main):
        problems.extend(_file_problems(root, file, html_env))
    if not problems:
        try:
            if compile_named is None:
                compile_template(root, name, html_env, html_env)
            else:
                compile_named(name)
        except SourceError as exc:
            where = exc.location or SourceLocation(display_path(root, main))
            problems.append(TemplateProblem(where.path, where.line, where.column, exc.message))
    return sorted(problems, key=lambda p: (p.path, p.line or 0, p.column or 0))


# An image named by a literal: `{{ 'logo.png' | asset_url }}`.
_ASSET_LITERAL = re.compile(r"(['\"])(?P<name>[^'\"{}|]+)\1\s*\|\s*asset_url\b")


def missing_assets(root: Path, name: str, catalog: AssetCatalog) -> list[TemplateProblem]:
    """Images that template `name` (or a file it includes) names and the assets folder lacks:
    each would fail every message at send time."""
    try:
        main = template_path(root, name)
    except SourceError:
        return []
    if not main.is_file():
        return []
    known = set(catalog.names())
    found = []
    for file in included_files(root, main):
        text = file.read_text(encoding="utf-8")
        index = LineIndex(text)
        for match in _ASSET_LITERAL.finditer(text):
            image = match.group("name").strip()
            if image.lower().startswith(("http://", "https://")) or image in known:
                continue
            line, column = index.position(match.start("name"))
            found.append(
                TemplateProblem(
                    display_path(root, file),
                    line,
                    column,
                    f"no image {image!r} in {root.name}/{ASSETS_FOLDER}/: add the file or "
                    "fix the name",
                )
            )
    return found


def included_files(root: Path, main: Path) -> Iterator[Path]:
    """The template and, transitively, the files it includes (each once)."""
    seen: set[Path] = set()
    pending = [main]
    while pending:
        file = pending.pop(0)
        if file in seen:
            continue
        seen.add(file)
        yield file
        for match in INCLUDE.finditer(file.read_text(encoding="utf-8")):
            try:
                pending.append(resolve_include(root, match.group(1)))
            except FileNotFoundError:
                continue


def _file_problems(root: Path, file: Path, env: MailSandbox) -> list[TemplateProblem]:
    text = file.read_text(encoding="utf-8")
    shown = display_path(root, file)
    index = LineIndex(text)
    found: list[TemplateProblem] = []

    def report(offset: int, message: str) -> None:
        line, column = index.position(offset)
        found.append(TemplateProblem(shown, line, column, message))

    try:
        env.parse(text)
    except TemplateSyntaxError as exc:
        found.append(TemplateProblem(shown, exc.lineno, None, f"Jinja syntax error: {exc.message}"))
    items = list(constructs(text))
    blanked = _blank(text, items)
    for construct in items:
        if "<" in construct.text:
            report(
                construct.start,
                f"'<' inside the Jinja tag {construct.text!r} breaks the MJML compiler; "
                "turn the comparison around (`100 > total`) or move markup out of the tag",
            )
    defaults = [m.span() for m in _ATTRIBUTE_DEFAULTS.finditer(blanked)]
    for tag in _TAG.finditer(blanked):
        if not any(start < tag.start() < end for start, end in defaults):
            _tag_problems(tag, text, items, report)
    _loop_problems(text, items, report)
    for style in _INLINE_STYLE.finditer(text):
        for construct in items:
            if style.start(1) <= construct.start < style.end(1):
                report(
                    construct.start,
                    'Jinja inside <mj-style inline="inline"> cannot be inlined: the CSS is '
                    "inlined once for all recipients; put per-recipient values in attributes",
                )
    for include in INCLUDE.finditer(text):
        try:
            resolve_include(root, include.group(1))
        except FileNotFoundError:
            report(include.start(), f"included file {include.group(1)!r} not found")
    return found


def _blank(text: str, items: list[Construct]) -> str:
    """`text` with every Jinja construct replaced by as many 'x' (newlines kept)."""
    chars = list(text)
    for construct in items:
        for offset in range(construct.start, construct.start + len(construct.text)):
            if chars[offset] != "\n":
                chars[offset] = "x"
    return "".join(chars)


def _tag_problems(tag: re.Match[str], text: str, items: list[Construct], report: Reporter) -> None:
    name = tag.group("name").lower()
    if (name == "mjml" or name.startswith("mj-")) and name not in MRML_TAGS:
        report(
            tag.start("name"),
            f"unknown MJML component <{name}>{_did_you_mean(name)}: MRML "
            "copies it into the HTML as it is, and what is inside loses its layout",
        )
    attributes = {
        m.group("name").lower(): (tag.start("attrs") + m.start("value"), m.group("value"))
        for m in _ATTRIBUTE.finditer(tag.group("attrs"))
    }
    for construct in items:
        if not tag.start() < construct.start < tag.end():
            continue
        quotes_before = tag.group()[: construct.start - tag.start()].count('"')
        if quotes_before % 2 == 1 and '"' in construct.text:
            report(
                construct.start,
                f"double quotes inside {construct.text!r} in an attribute break the MJML "
                "compiler; use single quotes inside the expression",
            )
    if name in _COMPUTED_WIDTH and "width" in attributes:
        start, _ = attributes["width"]
        value = text[start : start + len(attributes["width"][1])]
        if "{{" in value or "{%" in value:
            report(
                start,
                f"width with Jinja on <{name}> is dropped by MRML (it computes widths at "
                "compile time); use a fixed width or switch between whole components",
            )
    if name in _IMAGE_TAGS and "alt" not in attributes:
        report(tag.start(), f'<{name}> has no alt text; add alt="..." (alt="" if decorative)')


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(MRML_TAGS), n=1, cutoff=0.6)
    return f" (did you mean <{close[0]}>?)" if close else ""


def _loop_problems(text: str, items: list[Construct], report: Reporter) -> None:
    """A `{% for %}` or `{% if %}` whose body holds bare mj-columns (outside a whole section)."""
    stack: list[Construct] = []
    for construct in items:
        word = _block_word(construct)
        if word in ("for", "if"):
            stack.append(construct)
        elif word in ("endfor", "endif") and stack:
            opening = stack.pop()
            body = text[opening.start + len(opening.text) : construct.start]
            if "<mj-column" in _SECTION.sub("", body):
                kind = "loop" if _block_word(opening) == "for" else "condition"
                report(
                    opening.start,
                    f"a {kind} around <mj-column> changes the number of columns per recipient, "
                    "but MRML computes column widths once for the columns it sees; repeat or "
                    "switch whole <mj-section>s instead",
                )


def _block_word(construct: Construct) -> str | None:
    if not construct.is_block:
        return None
    words = construct.text[2:-2].strip("-+ \t\n").split()
    return words[0] if words else None
