"""Compile each MJML template once (MRML, css-inline, text part) into Jinja templates, cached.

Per recipient only Jinja runs. `PerRecipientCompiler` is the slow reference path
(Jinja on the MJML, then MRML and css-inline for every recipient) that tests and the benchmark
compare the cached path against.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mjml
from jinja2 import Template, TemplateSyntaxError

from mailengine.errors import SourceError, SourceLocation
from mailengine.render.css_inlining import (
    InliningError,
    inline_css,
    inline_css_keeping_jinja,
    inline_css_of,
)
from mailengine.render.environment import MailSandbox, escape_output_as_ascii
from mailengine.render.html_pieces import PieceTable
from mailengine.render.mjml_prepare import IncludeError, Prepared, prepare_mjml
from mailengine.render.mrml_fixes import mrml_mended
from mailengine.render.source_map import LineIndex, SourceMap
from mailengine.render.template_sources import TemplateSources, stored_path
from mailengine.render.text_part import html_to_text_template
from mailengine.render.wire_html import RenderedShaping
from mailengine.render.wire_html_source import shape_html_source

TEMPLATE_SUFFIX = ".mjml"
PARTIALS_DIR = "partials"
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_MRML_POSITION = re.compile(
    r'(?:in root template|from "(?P<path>[^"]+)") at position (?P<start>\d+):(?P<end>\d+)'
)


def display_path(root: Path, file: Path) -> str:
    """`templates/welcome/hello.mjml`: the path as a user of the templates folder sees it."""
    try:
        return f"{root.name}/{file.resolve().relative_to(root.resolve()).as_posix()}"
    except ValueError:
        return str(file)


def template_path(root: Path, name: str) -> Path:
    """`win-back/coupon` → `<root>/win-back/coupon.mjml`; refuses names that leave the root."""
    if not TEMPLATE_NAME.fullmatch(name) or ".." in name.split("/"):
        raise SourceError(
            f"template name {name!r} is not valid: use a path under the templates folder "
            "without the .mjml suffix, such as 'win-back/coupon'"
        )
    if name.split("/")[0] == PARTIALS_DIR:
        raise SourceError(
            f'{name!r} is a partial: include it with <mj-include path="{name}.mjml" /> '
            "inside a template instead of sending it"
        )
    return root / f"{name}{TEMPLATE_SUFFIX}"


def resolve_include(root: Path, path: str) -> Path:
    """The file an `<mj-include path="...">` names, relative to the templates folder."""
    candidate = (root / path.strip().lstrip("/")).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise FileNotFoundError(f"{path} is outside {root}")
    if not candidate.is_file():
        raise FileNotFoundError(path)
    return candidate


@dataclass
class IncludeLoader:
    """The `include_loader` MRML calls; remembers what it loaded (`kept`: by its path under
    the templates folder) and what it could not find. With `stored`, includes come from those
    sources instead of the folder."""

    root: Path
    stored: TemplateSources | None = None
    loaded: list[tuple[str, Path, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    def __call__(self, path: str) -> str:
        try:
            relative, text = self._read(path)
        except (FileNotFoundError, KeyError):
            self.missing.append(path)
            raise FileNotFoundError(path) from None
        self.loaded.append((path, self.root / relative, text))
        self.kept[relative] = text
        return text

    def _read(self, path: str) -> tuple[str, str]:
        if self.stored is not None:
            return stored_path(path), self.stored.text(path)
        file = resolve_include(self.root, path)
        return file.relative_to(self.root.resolve()).as_posix(), file.read_text(encoding="utf-8")


@dataclass(frozen=True)
class CompiledTemplate:
    """One MJML template, ready for Jinja: the HTML and text templates and how to map errors.

    `html_source` is the HTML shaped for the wire (see `wire_html`) that `html` was compiled
    from; `html_shaping` says what each rendered message may still need.
    """

    name: str
    path: Path
    display_path: str
    html_source: str
    text_source: str
    html: Template
    text: Template
    source_map: SourceMap
    files: tuple[Path, ...]
    mtimes: tuple[int, ...]
    html_shaping: RenderedShaping
    sources: TemplateSources
    html_pieces: PieceTable
    # Whether its HTML or text names `orders` (or has the word anywhere): a send of a
    # template that does not is rendered without making every order's context.
    names_orders: bool = True


def read_source(file: Path, root: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(
            f"template {display_path(root, file)} does not exist; create it or fix the name"
        ) from None


def compile_mjml(root: Path, file: Path, source: str, loader: IncludeLoader) -> str:
    """MRML on the prepared source (includes put in place, see `mjml_prepare`), then
    css-inline if it has inline styles."""
    try:
        prepared = prepare_mjml(source, loader)
    except IncludeError as exc:
        where = _located(root, file, source, loader, exc.origin, exc.offset)
        raise SourceError(f"{exc} under {root.name}/", location=where) from None
    try:
        html = mrml_mended(mjml.mjml2html(prepared.text, include_loader=loader))
    except ValueError as exc:
        raise _mrml_error(root, file, source, loader, exc, prepared) from None
    css = inline_css_of([source, *(text for _, _, text in loader.loaded)])
    if not css.strip():
        return html
    try:
        return inline_css_keeping_jinja(html, css)
    except InliningError as exc:
        raise SourceError(str(exc), location=SourceLocation(display_path(root, file))) from None


def _mrml_error(
    root: Path, file: Path, source: str, loader: IncludeLoader, exc: ValueError, prepared: Prepared
) -> SourceError:
    message = str(exc)
    if loader.missing:
        return SourceError(
            f"included file {loader.missing[-1]!r} not found under {root.name}/",
            location=_offset_location(root, file, source, message, loader, prepared),
        )
    hint = (
        "; MRML cannot parse a '<' inside a Jinja tag (write `100 > total`) or double quotes "
        "inside a Jinja expression in an attribute (use single quotes)"
        if "unable to parse" in message
        else ""
    )
    return SourceError(
        f"MJML does not compile: {message}{hint}",
        location=_offset_location(root, file, source, message, loader, prepared),
    )


def _offset_location(
    root: Path,
    file: Path,
    source: str,
    message: str,
    loader: IncludeLoader,
    prepared: Prepared,
) -> SourceLocation:
    match = _MRML_POSITION.search(message)
    if not match:
        return SourceLocation(display_path(root, file))
    offset = max(int(match.group("start")) - 1, 0)
    if match.group("path"):  # an include MRML put in place itself (css, html)
        return _located(root, file, source, loader, match.group("path"), offset)
    origin, offset = prepared.locate(offset)
    return _located(root, file, source, loader, origin, offset)


def _located(
    root: Path, file: Path, source: str, loader: IncludeLoader, origin: str | None, offset: int
) -> SourceLocation:
    """Where `offset` of the root (`origin` None) or of the include `origin` is."""
    where, text = file, source
    for include_path, included, included_text in loader.loaded:
        if origin is not None and include_path == origin:
            where, text = included, included_text
    line, column = LineIndex(text).position(min(offset, len(text)))
    return SourceLocation(display_path(root, where), line, column)


def jinja_template(env: MailSandbox, source: str, name: str, filename: str) -> Template:
    """A Jinja template from `source`; errors in it report `filename` and its own lines."""
    code = env.compile(source, name=name, filename=filename)
    # A plain dict instead of Jinja's ChainMap: building each render's context copies it.
    return env.template_class.from_code(env, code, dict(env.make_globals(None)))


def check_jinja_syntax(env: MailSandbox, root: Path, file: Path, source: str) -> None:
    """Raise a SourceError at the line of the first Jinja syntax error in one source file."""
    try:
        env.parse(source)
    except TemplateSyntaxError as exc:
        raise SourceError(
            f"Jinja syntax error: {exc.message}",
            location=SourceLocation(display_path(root, file), exc.lineno),
        ) from None


def compile_template(
    root: Path,
    name: str,
    html_env: MailSandbox,
    text_env: MailSandbox,
    stored: TemplateSources | None = None,
) -> CompiledTemplate:
    """Compile `name` once: MJML → HTML (Jinja kept) → inline CSS → HTML and text templates.

    The text template is made from the HTML as MRML wrote it; the HTML template from that
    HTML shaped to travel as 7bit (same document, other bytes). With `stored`, the template
    and its includes are those sources, not the files of the folder.
    """
    file = template_path(root, name)
    own = file.relative_to(root).as_posix()
    if stored is None:
        source = read_source(file, root)
    elif own in stored.files:
        source = stored.files[own]
    else:
        raise SourceError(f"the stored sources of {name} lack {own}")
    check_jinja_syntax(html_env, root, file, source)
    loader = IncludeLoader(root, stored)
    html_source = compile_mjml(root, file, source, loader)
    source_map = SourceMap()
    source_map.add_source(display_path(root, file), source)
    for _, included, included_source in loader.loaded:
        check_jinja_syntax(html_env, root, included, included_source)
        source_map.add_source(display_path(root, included), included_source)
    text_source = html_to_text_template(html_source)
    shaped = shape_html_source(html_source)
    shown = display_path(root, file)
    try:
        html = jinja_template(html_env, shaped.source, name, f"{shown}#html")
        text = jinja_template(text_env, text_source, name, f"{shown}#text")
        if shaped.rendered.charrefs:
            escape_output_as_ascii(html)
    except TemplateSyntaxError as exc:
        raise SourceError(
            f"compiled template is not valid Jinja ({exc.message}); keep each {{% %}} block "
            "inside one element or between whole MJML components",
            location=SourceLocation(shown),
        ) from None
    files = (file, *(included for _, included, _ in loader.loaded))
    return CompiledTemplate(
        name=name,
        path=file,
        display_path=shown,
        html_source=shaped.source,
        text_source=text_source,
        html=html,
        text=text,
        source_map=source_map,
        files=files,
        mtimes=() if stored is not None else tuple(f.stat().st_mtime_ns for f in files),
        html_shaping=shaped.rendered,
        sources=TemplateSources(name, {own: source, **loader.kept}),
        html_pieces=PieceTable(html),
        names_orders="orders" in shaped.source or "orders" in text_source,
    )


class MjmlCache:
    """Compiled templates by name; compiles on first use, safe to share between threads."""

    def __init__(
        self, root: Path, html_env: MailSandbox, text_env: MailSandbox, *, auto_reload: bool
    ) -> None:
        self._root = root
        self._html_env = html_env
        self._text_env = text_env
        self._auto_reload = auto_reload
        self._compiled: dict[str, CompiledTemplate] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CompiledTemplate:
        compiled = self._compiled.get(name)
        if compiled is not None and not (self._auto_reload and _changed(compiled)):
            return compiled
        with self._lock:
            compiled = self._compiled.get(name)
            if compiled is None or (self._auto_reload and _changed(compiled)):
                compiled = compile_template(self._root, name, self._html_env, self._text_env)
                self._compiled[name] = compiled
            return compiled

    def clear(self) -> None:
        with self._lock:
            self._compiled.clear()


def _changed(compiled: CompiledTemplate) -> bool:
    try:
        return tuple(f.stat().st_mtime_ns for f in compiled.files) != compiled.mtimes
    except FileNotFoundError:
        return True


class PerRecipientCompiler:
    """The reference path: Jinja on the MJML sources, then MRML and css-inline, every time.

    Only the Jinja parsing of the `.mjml` files is cached, as a naive implementation would;
    MRML and css-inline run for every recipient.
    """

    def __init__(self, root: Path, html_env: MailSandbox) -> None:
        self._root = root
        self._html_env = html_env
        self._templates: dict[Path, Template] = {}

    def _template(self, file: Path) -> Template:
        template = self._templates.get(file)
        if template is None:
            source = read_source(file, self._root)
            template = jinja_template(self._html_env, source, file.name, str(file))
            self._templates[file] = template
        return template

    def render_html(self, name: str, context: Mapping[str, Any]) -> str:
        rendered = self._template(template_path(self._root, name)).render(context)
        rendered_includes: list[str] = []

        def loader(path: str) -> str:
            text = self._template(resolve_include(self._root, path)).render(context)
            rendered_includes.append(text)
            return text

        prepared = prepare_mjml(rendered, loader).text
        html = mrml_mended(mjml.mjml2html(prepared, include_loader=loader))
        css = inline_css_of([rendered, *rendered_includes])
        return inline_css(html, css) if css.strip() else html
