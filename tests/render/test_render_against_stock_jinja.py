"""What customers receive is what stock Jinja renders from the compiled templates.

Rendering takes shortcuts for speed (escaped output as plain text and made ASCII as it is
written, translations as one call kept per language, `default` unchecked, output counted a
slice at a time). Here every shipped template and the benchmark's weekly offers are rendered
for thirty generated customers in their locales both ways: through the library, and through
Jinja's own sandbox with its own escaping and newstyle gettext over the same catalogs. The
HTML (then shaped as the library shapes it) and the text must be the same, character for
character.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Template, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.assets import asset_url_filter
from mailengine.render.environment import MissingValue, _default
from mailengine.render.formatting import FILTERS
from mailengine.render.text_part import tidy_text
from mailengine.render.translations import language_tag
from mailengine.render.wire_html import shape_rendered_html
from tests.render.test_wire_html import PREHEADER, SUBJECT, cases


class StockSandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox as it comes, with only the lookup templates rely on: dict keys first."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        is_key = type(obj) is dict and attribute in obj
        return obj[attribute] if is_key else super().getattr(obj, attribute)


def stock_environment(library: TemplateLibrary, language: str, autoescape: bool) -> Any:
    env = StockSandbox(
        autoescape=autoescape,
        undefined=MissingValue,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    catalogs = library.catalogs
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: catalogs.gettext(language, message),
        ngettext=lambda one, many, count: catalogs.ngettext(language, one, many, count),
        newstyle=True,
    )

    @pass_context
    def translate(context: Context, text: Any) -> str:
        return catalogs.gettext(language, str(text))

    env.filters.update(FILTERS)
    env.filters.update(default=_default, d=_default, translate=translate)
    env.filters["asset_url"] = asset_url_filter(library.assets)
    return env


def test_html_and_text_are_what_stock_jinja_renders(
    library: TemplateLibrary, bench_library: TemplateLibrary, customers: list[RenderContext]
) -> None:
    compiled_stock: dict[tuple[int, str, str], tuple[Template, Template]] = {}
    languages = set()
    for owner, name in cases(library, bench_library):
        compiled = owner.compiled(name)
        for context in customers:
            email = owner.render(name, context, subject=SUBJECT, preheader=PREHEADER)
            language = owner.language_for(context)
            languages.add(language)
            key = (id(owner), name, language)
            if key not in compiled_stock:
                html_env = stock_environment(owner, language, autoescape=True)
                text_env = stock_environment(owner, language, autoescape=False)
                compiled_stock[key] = (
                    html_env.from_string(compiled.html_source),
                    text_env.from_string(compiled.text_source),
                )
            html, text = compiled_stock[key]
            values = {
                **context,
                "language": language_tag(language),
                "subject": email.subject,
                "preheader": email.preheader,
            }
            stock_html = shape_rendered_html(html.render(values), compiled.html_shaping)
            assert email.html == stock_html, (name, context["customer"]["locale"])
            assert email.text == tidy_text(text.render(values)), name
    assert {"de", "fr", "en"} <= languages
