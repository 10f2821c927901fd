"""What the pieces of a rendered HTML body tell about it: an AnchoredHtml keeps every wire rule
the encoder then takes on trust, says where every `<a` is, and is the body a pass over all of
it would have made; anything the pieces cannot settle gets None (and the whole is searched).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from mailengine.render import RenderContext, TemplateLibrary
from mailengine.render.environment import BudgetTemplate, html_environment
from mailengine.render.html_pieces import AnchoredHtml, PieceTable
from mailengine.render.mjml_cache import jinja_template
from mailengine.render.wire_html import RelaxedSafeText, RenderedShaping, shape_rendered_html

SUBJECT = "{{ customer.first_name | default('Hallo') }}, unsere Angebote der Woche"
BROKEN_BLANKS = re.compile(r"  | \n|\t|\r| \Z")
RISKY_LINE = re.compile(r"(?:^|\n)(?:\.|From )")
ANCHOR = re.compile(r"<a", re.IGNORECASE)


def template(source: str) -> BudgetTemplate:
    made = jinja_template(html_environment(), source, "s", "s")
    assert isinstance(made, BudgetTemplate)
    return made


def check_kept(html: str) -> None:
    """What AnchoredHtml promises, checked the slow way."""
    assert html.isascii() and "\x00" not in html
    assert not BROKEN_BLANKS.search(html), html
    assert not RISKY_LINE.search(html), html
    assert max(map(len, html.split("\n"))) <= 998
    assert type(html) is AnchoredHtml
    assert list(html.anchors) == [found.start() for found in ANCHOR.finditer(html)]


STATIC = [
    "<p>", "</p>", '<a href="https://x.example/', '">', "</a>", "<A\nhref='", "'>", "<", "a",
    " ", "  ", "\n", " \n", ".", "From ", "Fr", "om ", "F", "\nFrom", "x" * 300, "word", "\t",
    "<abbr>", "{{ a }}", "{{ b }}", "{% if c %} {{ a }}{% endif %}", "{% if c %} {% endif %}",
    "{% if c %}<a href='{{ b }}'>{% else %}Fr{% endif %}",
    "{% for i in [1, 2] %}{{ a }}\n{% endfor %}",
]  # fmt: skip
VALUES = [
    "Anna", "", " ", "x ", " x", "\n", "a\nb", "From ", ".", "om x", Markup("<a"), "Zoë",
    "y" * 600, "\t", "a  b", "rom", Markup("<A href='x'>"), Markup("a href='y'>"),
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(STATIC), max_size=60),
    st.sampled_from(VALUES),
    st.sampled_from(VALUES),
    st.booleans(),
)
def test_what_the_pieces_settle_holds_for_the_whole(
    pieces: list[str], a: str, b: str, c: bool
) -> None:
    made = template("".join(pieces))
    table = PieceTable(made)
    values: dict[str, Any] = {"a": a, "b": b, "c": c}
    for _ in range(2):  # the second time from the skeleton seen the first time
        rendered = made.render_pieces(values)
        html = table.wire_html(rendered)
        if html is not None:
            check_kept(html)
            assert html == "".join(rendered)
            shaped = shape_rendered_html(html, RenderedShaping(charrefs=True, blanks=True))
            assert shaped == html and type(shaped) is RelaxedSafeText


def test_plain_values_in_plain_markup_are_settled_by_the_pieces() -> None:
    made = template(
        '<p>Hello {{ a }},\n<a href="https://x.example/{{ b }}">see</a>'
        "{% if c %} for {{ a }}{% endif %}.</p>\n<A\nHREF='x'>y</A>\n"
    )
    table = PieceTable(made)
    for a, b, c in [("Anna", "p/1", True), ("Bo", "p/22", False), ("Anna", "q", True)]:
        html = table.wire_html(made.render_pieces({"a": a, "b": b, "c": c}))
        assert html is not None
        check_kept(html)


def test_static_text_with_a_tab_or_not_ascii_gets_none() -> None:
    """The static text is checked once, for each skeleton: the values are searched alone."""
    # (Jinja reads a CR line end as LF: static text never has a CR)
    for static in ("<p>\t{{ a }}</p>\n", "<p>Zoë {{ a }}</p>\n", "<p>x</p>\t"):
        made = template(static)
        assert PieceTable(made).wire_html(made.render_pieces({"a": "Anna"})) is None, static
    made = template("<p>x</p>\n")
    assert PieceTable(made).wire_html(made.render_pieces({})) is not None


def test_what_the_pieces_cannot_settle_gets_none() -> None:
    made = template("<p>\n{{ a }} and {{ b }}{% if c %} x{% endif %} </p>{{ d }}\n")
    table = PieceTable(made)
    plain = {"a": "Anna", "b": "Bo", "c": False, "d": "!"}
    assert table.wire_html(made.render_pieces(plain)) is not None
    changes: list[dict[str, Any]] = [
        {"a": "From Anna"},  # a line starting with "From "
        {"a": ".x"},  # ... or with "."
        {"b": "x\ny"},  # a line break the pieces do not show
        {"b": "Bo "},  # a value ending with a space before " x" or " </p>"
        {"c": True, "b": "Bo "},
        {"b": "", "c": True},  # an empty value: its neighbours meet (" and  x")
        {"b": "x" * 1000},  # a line too long
        {"b": Markup("<a")},  # a link the values make
        {"b": "Zoë"},  # not ASCII
        {"b": "B\x00o"},  # a NUL
        {"b": "B\ro"},  # a CR
        {"b": "B\to"},  # a tab
        {"d": "\x00"},  # a NUL alone, as the last value
    ]
    for changed in changes:
        rendered = made.render_pieces({**plain, **changed})
        assert table.wire_html(rendered) is None, changed


def test_the_bench_offers_render_as_anchored_html(
    bench_library: TemplateLibrary, customers: list[RenderContext]
) -> None:
    """The pieces settle the benchmark's weekly offers for customers with sizes and a city
    (without, a false condition leaves two spaces for the whole body's shaping to collapse):
    what keeps dispatching from searching a 44 KB body four times per message."""
    for context in customers:
        attributes = {"shirt_size": "M", "waist": "32"}
        customer = {**context["customer"], "city": "Ulm", "attributes": attributes}
        email = bench_library.render(
            "weekly/offers", {**context, "customer": customer}, subject=SUBJECT
        )
        check_kept(email.html)
