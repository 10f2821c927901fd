"""The templates folder as one object: render a named email for a customer, or check a template."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

from jinja2 import Template, TemplateSyntaxError

from mailengine.errors import RenderError, SourceError, SourceLocation
from mailengine.render.assets import ASSETS_FOLDER, AssetCatalog
from mailengine.render.checks import TemplateProblem, find_problems, missing_assets
from mailengine.render.environment import (
    BudgetTemplate,
    html_environment,
    install_translations,
    single_line,
    text_environment,
)
from mailengine.render.failures import render_failure
from mailengine.render.locales import DEFAULT_LOCALE
from mailengine.render.mjml_cache import (
    PARTIALS_DIR,
    TEMPLATE_SUFFIX,
    CompiledTemplate,
    MjmlCache,
    PerRecipientCompiler,
    compile_template,
    jinja_template,
)
from mailengine.render.template_lint import lint
from mailengine.render.template_sources import TemplateSources
from mailengine.render.text_part import tidy_text
from mailengine.render.translation_checks import catalog_problems, missing_in_files, missing_line
from mailengine.render.translations import Catalogs, language_name, language_tag
from mailengine.render.wire_html import shape_rendered_html

_LINE_TEMPLATES_MAX = 1024


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """What one customer receives: single-line subject and preheader, HTML and text bodies."""

    subject: str
    preheader: str
    html: str
    text: str


class TemplateLibrary:
    """MJML templates under `templates_dir`, compiled once each and rendered per customer.

    `render("win-back/coupon", context, subject=...)` reads `templates_dir/win-back/coupon.mjml`.
    Files under `partials/` are only included, never sent. Safe to share between threads and
    coroutines: compiling takes a lock, rendering touches no shared state.
    """

    def __init__(
        self,
        templates_dir: Path,
        *,
        auto_reload: bool = False,
        assets_dir: Path | None = None,
        shop_locale: str = DEFAULT_LOCALE,
    ) -> None:
        """`assets_dir`: where the images are, when not in the folder's `assets/` (a draft
        copied aside with only the templates it needs). `shop_locale`: the language of the
        copy for customers whose own has no catalog (config `locale`)."""
        self._root = Path(templates_dir)
        self._auto_reload = auto_reload
        self._assets_dir = assets_dir
        self._shop_locale = shop_locale
        self.assets = AssetCatalog(
            assets_dir or self._root / ASSETS_FOLDER, auto_reload=auto_reload
        )
        self._catalogs = Catalogs(self._root, shop_locale, auto_reload=auto_reload)
        self._html_env = html_environment(self.assets)
        self._text_env = text_environment(self.assets)
        install_translations(self._html_env, self._catalogs)
        install_translations(self._text_env, self._catalogs)
        self._cache = MjmlCache(self._root, self._html_env, self._text_env, auto_reload=auto_reload)
        self._lines: dict[str, Template] = {}
        self._lines_lock = threading.Lock()
        self._stored: dict[str, CompiledTemplate] = {}
        self._stored_lock = threading.Lock()
        self._per_recipient = PerRecipientCompiler(self._root, self._html_env)

    @property
    def templates_dir(self) -> Path:
        return self._root

    @property
    def catalogs(self) -> Catalogs:
        """The translations of the copy (`<templates>/locales`)."""
        return self._catalogs

    def language_for(self, context: Mapping[str, Any]) -> str:
        """The catalog language (`de`, `pt_BR`) of the copy the context's customer gets."""
        customer = context.get("customer")
        locale = customer.get("locale") if isinstance(customer, Mapping) else None
        return self._catalogs.copy_language(str(locale or self._shop_locale))

    def names(self) -> list[str]:
        """Every sendable template name (partials excluded), sorted."""
        return sorted(
            file.relative_to(self._root).with_suffix("").as_posix()
            for file in self._root.rglob(f"*{TEMPLATE_SUFFIX}")
            if file.relative_to(self._root).parts[0] != PARTIALS_DIR
        )

    def compiled(self, name: str, sources: TemplateSources | None = None) -> CompiledTemplate:
        """The compiled template; raises SourceError (naming file and line) if it is broken.

        With `sources`, the template as they keep it (a stored version), whatever the folder
        holds now; compiled once per digest."""
        if sources is not None:
            return self._compiled_from(sources)
        try:
            return self._cache.get(name)
        except SourceError as exc:
            problems = find_problems(self._root, name, self._html_env)
            if not problems:
                raise
            first = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise SourceError(first.message + more, location=first.location) from exc

    def _compiled_from(self, sources: TemplateSources) -> CompiledTemplate:
        digest = sources.digest
        compiled = self._stored.get(digest)
        if compiled is None:
            with self._stored_lock:
                compiled = self._stored.get(digest)
                if compiled is None:
                    compiled = compile_template(
                        self._root, sources.name, self._html_env, self._text_env, sources
                    )
                    self._stored[digest] = compiled
        return compiled

    def preload(self, names: Iterable[str] | None = None) -> None:
        """Compile templates now rather than on first use."""
        for name in self.names() if names is None else names:
            self.compiled(name)

    def render(
        self,
        template_name: str,
        context: Mapping[str, Any],
        *,
        subject: str,
        preheader: str | None = None,
        sources: TemplateSources | None = None,
    ) -> RenderedEmail:
        """Render one customer's email; RenderError names template, line, variable, customer.

        The copy is in the customer's language if it has a catalog, else the shop's (see
        `Catalogs.copy_language`): its tag is `language` (`de`, for `<mjml lang>`). The
        subject and preheader are templates too (no HTML escaping, one line), each translated
        as a whole. The HTML sees them as `subject` and `preheader`; what customer data
        brought into it that would keep it from going as 7bit is shaped away where that
        cannot change the document. With `sources`, the template is the stored version they
        keep (see `compiled`).
        """
        compiled = self.compiled(template_name, sources)
        email = _customer_email(context)
        language = self.language_for(context)
        values: dict[str, Any] = {**context, "language": language_tag(language)}
        subject_text = self._render_line(
            self._catalogs.gettext(language, subject), values, template_name, "subject", email
        )
        preheader_text = (
            self._render_line(
                self._catalogs.gettext(language, preheader),
                values,
                template_name,
                "preheader",
                email,
            )
            if preheader
            else ""
        )
        values["subject"] = subject_text
        values["preheader"] = preheader_text
        pieces = self._render_pieces(compiled, "html", values, email)
        html = compiled.html_pieces.wire_html(pieces) or shape_rendered_html(
            "".join(pieces), compiled.html_shaping
        )
        text = tidy_text("".join(self._render_pieces(compiled, "text", values, email)))
        return RenderedEmail(subject_text, preheader_text, html, text)

    def render_batch(
        self,
        template_name: str,
        contexts: Iterable[Mapping[str, Any]],
        *,
        subject: str,
        preheader: str | None = None,
    ) -> list[RenderedEmail | RenderError]:
        """Render for many customers; a customer whose data fails gets their error in place.

        A broken template (SourceError) fails for everyone and is raised.
        """
        self.compiled(template_name)
        results: list[RenderedEmail | RenderError] = []
        for context in contexts:
            try:
                results.append(
                    self.render(template_name, context, subject=subject, preheader=preheader)
                )
            except RenderError as exc:
                results.append(exc)
        return results

    def render_per_recipient_html(self, template_name: str, context: Mapping[str, Any]) -> str:
        """The slow reference: Jinja on the MJML, then MRML and css-inline, for one customer.

        Only for proving the compiled path equal and for measuring; `context` must already
        carry `subject` and `preheader` as `render` would add them.
        """
        return self._per_recipient.render_html(template_name, context)

    def check(self, template_name: str) -> list[TemplateProblem]:
        """Static problems of one template and its includes (empty when it is fine)."""
        problems = find_problems(self._root, template_name, self._html_env, self._cache.get)
        return problems + missing_assets(self._root, template_name, self.assets)

    def check_all(self) -> list[TemplateProblem]:
        """Static problems of every sendable template, each include reported once."""
        seen: dict[str, TemplateProblem] = {}
        for name in self.names():
            for problem in self.check(name):
                seen.setdefault(str(problem), problem)
        return list(seen.values())

    def check_line(
        self,
        source: str,
        *,
        path: str,
        line: int | None = None,
        column: int | None = None,
        present: frozenset[str] = frozenset(),
    ) -> list[TemplateProblem]:
        """Problems of a subject or preheader template written at `path:line:column`:
        syntax, and what it uses against what templates see (`present`: see `lint`)."""
        env = self._text_env
        return [
            TemplateProblem(path, line, column, finding.message)
            for finding in lint(source, env.filters, env.tests, present)
        ]

    def syntax_error(self, source: str) -> str | None:
        """Why a subject or preheader template cannot be compiled at all, or None."""
        try:
            self._text_env.parse(source)
        except TemplateSyntaxError as exc:
            return f"Jinja syntax error: {exc.message}"
        return None

    def lint(
        self, template_name: str, present: frozenset[str] = frozenset()
    ) -> list[TemplateProblem]:
        """What in the template (its includes too) will fail at send time, at its place: unknown
        names, fields, filters and tests, values some customers lack used unguarded.
        `present` holds the values the sending workflow guarantees (`last_order`, ...).
        Empty when the template does not compile: `check` reports that."""
        try:
            compiled = self.compiled(template_name)
        except SourceError:
            return []
        env = self._html_env
        problems = []
        for finding in lint(compiled.html_source, env.filters, env.tests, present):
            where = compiled.source_map.locate_token(
                compiled.html_source, finding.line, finding.token
            ) or SourceLocation(compiled.display_path)
            problems.append(TemplateProblem(where.path, where.line, where.column, finding.message))
        return problems

    # --- translations ------------------------------------------------------------------------

    def missing_translations(self, template_name: str) -> list[TemplateProblem]:
        """For each catalog language, the messages of the template and its includes it does
        not translate, at their place (empty when the template does not compile)."""
        try:
            compiled = self.compiled(template_name)
        except SourceError:
            return []
        files = {f"{self._root.name}/{path}": text for path, text in compiled.sources.files.items()}
        return missing_in_files(files, self._catalogs)

    def missing_line_translations(self, source: str) -> list[tuple[str, str]]:
        """(`German (de)`, its catalog) for each language lacking the subject or preheader
        `source`."""
        return missing_line(source, self._catalogs)

    def line_translations(self, source: str) -> list[tuple[str, str]]:
        """(language name, translated source) of a subject or preheader, for each catalog
        that translates it."""
        found = []
        for language in self._catalogs.languages():
            try:
                translated = self._catalogs.gettext(language, source)
            except SourceError:
                continue
            if translated != source:
                found.append((language_name(language), translated))
        return found

    def catalog_problems(self) -> list[TemplateProblem]:
        """Catalogs that do not parse, translations whose placeholders differ from their
        message's."""
        return catalog_problems(self._catalogs)

    # --- internals ---------------------------------------------------------------------------

    def _render_pieces(
        self, compiled: CompiledTemplate, part: str, values: dict[str, Any], email: str | None
    ) -> list[str]:
        template = compiled.html if part == "html" else compiled.text
        try:
            return cast(BudgetTemplate, template).render_pieces(values)
        except Exception as exc:  # one customer's failure, whatever its kind, is theirs alone
            raise render_failure(
                exc,
                template=compiled.name,
                part=f"{part} part",
                customer_email=email,
                compiled_source=compiled.html_source if part == "html" else compiled.text_source,
                filename=template.filename or "",
                source_map=compiled.source_map,
                fallback_location=SourceLocation(compiled.display_path),
            ) from exc

    def _render_line(
        self,
        source: str,
        context: Mapping[str, Any],
        template_name: str,
        part: str,
        email: str | None,
    ) -> str:
        if "{" not in source:  # no Jinja syntax: Jinja would give the text back as it is
            return single_line(source)
        template = self._lines.get(source)
        if template is None:
            template = self._compile_line(source, template_name, part)
        try:
            return single_line(template.render(context))
        except Exception as exc:  # see _render_pieces
            raise render_failure(
                exc,
                template=template_name,
                part=part,
                customer_email=email,
                compiled_source=source,
                filename=template.filename or "",
                source_map=None,
                detail=f" (the {part} template is {source!r})",
            ) from exc

    def _compile_line(self, source: str, template_name: str, part: str) -> Template:
        try:
            template = jinja_template(self._text_env, source, part, f"<{part}>")
        except TemplateSyntaxError as exc:
            raise SourceError(
                f"the {part} of {template_name} is not valid Jinja ({exc.message}): {source!r}"
            ) from None
        with self._lines_lock:
            if len(self._lines) >= _LINE_TEMPLATES_MAX:
                self._lines.clear()
            self._lines[source] = template
        return template

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        """Pickled as its folder, `auto_reload`, assets folder and shop locale: a compose worker
        process builds its own library, compiles on first use and (with `auto_reload`)
        reloads changed files itself."""
        build = partial(
            type(self),
            auto_reload=self._auto_reload,
            assets_dir=self._assets_dir,
            shop_locale=self._shop_locale,
        )
        return build, (self._root,)


def _customer_email(context: Mapping[str, Any]) -> str | None:
    customer = context.get("customer")
    if isinstance(customer, Mapping):
        email = customer.get("email")
        return str(email) if email is not None else None
    return None
