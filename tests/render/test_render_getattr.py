"""`x.name` in a template: a plain dict's key looked up in the template's own code gives what
Jinja's code, calling the sandbox for every lookup, gives: the same output, or the same
error, whatever the data (dicts lacking the key, keys named like dict methods, other types)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.compiler import CodeGenerator

from mailengine.render.environment import MailSandbox, html_environment, text_environment

NAMES = ["name", "items", "city", "get", "keys", "__class__", "mro", "upper"]
TEMPLATES = [
    "{{ a.name }}",
    "{{ a.items }}|{{ a.keys }}",
    "{{ a.name.city }} {{ a.city.name.items }}",
    "{% if a.city %}[{{ a.city }}]{% else %}-{% endif %}",
    "{{ a.name | default('friend') }} {{ a.city.name | default('x') }}",
    "{% for row in a.items %}{{ row.name }};{% endfor %}",
    "{{ a.name ~ a.city }}",
    "{% set b = a.name %}{{ b.city }}{{ a.__class__ }}",
    "{% macro m(x) %}{{ x.name }}{% endmacro %}{{ m(a) }}{{ m(a.city) }}",
    "{{ a.upper() if a.upper is defined else a.name }}",
    "{{ a.get('name') }}",
]


class Thing:
    name = "thing <b>"
    city = None


leaves = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.text(alphabet="ab <&é", max_size=4),
    st.builds(Thing),
)
data = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)


class StockCode(MailSandbox):
    """The same sandbox with Jinja's own code generator."""

    code_generator_class = CodeGenerator


def outcome(env: MailSandbox, source: str, value: Any) -> str:
    try:
        return "ok: " + env.from_string(source).render(a=value)
    except Exception as error:  # what fails must fail alike
        return f"{type(error).__name__}: {error}"


@settings(max_examples=300, deadline=None)
@given(value=data, source=st.sampled_from(TEMPLATES), escaping=st.booleans())
def test_dict_keys_looked_up_in_the_template_give_what_jinja_gives(
    value: Any, source: str, escaping: bool
) -> None:
    ours = html_environment() if escaping else text_environment()
    stock = StockCode(
        autoescape=escaping,
        undefined=ours.undefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    stock.filters = ours.filters
    stock.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    assert outcome(ours, source, value) == outcome(stock, source, value)


def test_the_template_code_looks_dict_keys_up_itself() -> None:
    source = html_environment().compile("{{ customer.name }}", raw=True)
    assert "_dict_owner.get('name', missing)" in source
