"""`check` finds the MRML pitfalls of compiling once, at the right file, line and column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailengine.errors import SourceError
from mailengine.render import TemplateLibrary, TemplateProblem

WriteTemplate = Callable[[str, str], Path]


def document(*body: str, head: str = "") -> str:
    """Line 1 `<mjml>`, 2 the head, 3 `<mj-body>`, then `body` from line 4."""
    return "\n".join(
        ["<mjml>", f"<mj-head>{head}</mj-head>", "<mj-body>", *body, "</mj-body>", "</mjml>", ""]
    )


def only(problems: list[TemplateProblem]) -> TemplateProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


CASES = {
    "less-than-in-tag": (
        document(
            "<mj-section><mj-column>",
            "  <mj-text>{% if customer.orders_count < 3 %}new{% endif %}</mj-text>",
            "</mj-column></mj-section>",
        ),
        (5, 12),
        "'<' inside the Jinja tag",
    ),
    "double-quotes-in-attribute": (
        document(
            "<mj-section><mj-column>",
            '  <mj-button href="{{ links.shop_url | default("https://x") }}">Go</mj-button>',
            "</mj-column></mj-section>",
        ),
        (5, 20),
        "double quotes inside",
    ),
    "jinja-width-on-image": (
        document(
            "<mj-section><mj-column>",
            '  <mj-image src="https://x/a.png" alt="a" width="{{ size }}px" />',
            "</mj-column></mj-section>",
        ),
        (5, 49),
        "width with Jinja on <mj-image> is dropped",
    ),
    "jinja-width-on-column": (
        document(
            "<mj-section>",
            '  <mj-column width="{{ share }}%"><mj-text>x</mj-text></mj-column>',
            "</mj-section>",
        ),
        (5, 20),
        "width with Jinja on <mj-column> is dropped",
    ),
    "loop-of-columns": (
        document(
            "<mj-section>",
            "  {% for item in last_order.items %}",
            "  <mj-column><mj-text>{{ item.name }}</mj-text></mj-column>",
            "  {% endfor %}",
            "</mj-section>",
        ),
        (5, 3),
        "a loop around <mj-column>",
    ),
    "jinja-in-inline-style": (
        document(
            "<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>",
            head='<mj-style inline="inline">\n  .x { color: {{ colour }}; }\n</mj-style>',
        ),
        (3, 15),
        'Jinja inside <mj-style inline="inline">',
    ),
    "missing-include": (
        document('<mj-include path="partials/nowhere.mjml" />'),
        (4, 1),
        "included file 'partials/nowhere.mjml' not found",
    ),
    "include-outside-the-folder": (
        document('<mj-include path="../../etc/passwd" />'),
        (4, 1),
        "included file '../../etc/passwd' not found",
    ),
    "jinja-syntax-error": (
        document(
            "<mj-section><mj-column>",
            "  <mj-text>{% if customer.city %}unclosed</mj-text>",
            "</mj-column></mj-section>",
        ),
        (None, None),
        "Jinja syntax error",
    ),
    "image-without-alt": (
        document(
            "<mj-section><mj-column>",
            '  <mj-image src="https://x/a.png" />',
            "</mj-column></mj-section>",
        ),
        (5, 3),
        "<mj-image> has no alt text",
    ),
    "raw-img-without-alt": (
        document('<mj-raw><img src="https://x/pixel.gif" width="1" height="1"></mj-raw>'),
        (4, 9),
        "<img> has no alt text",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_pitfall_is_reported_where_it_is(
    write_template: WriteTemplate, scratch_library: TemplateLibrary, case: str
) -> None:
    source, (line, column), message = CASES[case]
    write_template(f"broken/{case}", source)
    problem = only(scratch_library.check(f"broken/{case}"))
    assert problem.path == f"templates/broken/{case}.mjml"
    assert message in problem.message
    if line is not None:
        assert (problem.line, problem.column) == (line, column)
        assert str(problem).startswith(f"templates/broken/{case}.mjml:{line}:{column}: ")
    else:
        assert problem.line is not None and problem.line >= 5


def test_a_problem_in_a_partial_is_reported_in_the_partial(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template("partials/bad.mjml", '<mj-section><mj-column>\n<mj-image src="x" />\n'
                   "</mj-column></mj-section>\n")  # fmt: skip
    write_template("uses-bad", document('<mj-include path="partials/bad.mjml" />'))
    problem = only(scratch_library.check("uses-bad"))
    assert str(problem).startswith("templates/partials/bad.mjml:2:1: <mj-image> has no alt")


def test_a_sound_template_has_no_problems_and_inline_css_is_fine(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "sound",
        document(
            "{% for item in last_order['items'] %}",
            "<mj-section><mj-column><mj-text>{% if 3 > item.quantity %}few{% endif %}"
            "</mj-text></mj-column></mj-section>",
            "{% endfor %}",
            "<mj-section><mj-column><mj-button href=\"{{ links.shop_url | default('x') }}\">"
            "Go</mj-button></mj-column></mj-section>",
            head='<mj-style inline="inline">.x { color: red; }</mj-style>',
        ),
    )
    assert scratch_library.check("sound") == []


def test_rendering_a_broken_template_raises_the_first_problem(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template("broken", CASES["less-than-in-tag"][0])
    with pytest.raises(SourceError) as caught:
        scratch_library.render("broken", {}, subject="S")
    assert str(caught.value).startswith("templates/broken.mjml:5:12: '<' inside the Jinja tag")


def test_subject_syntax_is_checked_with_its_origin(scratch_library: TemplateLibrary) -> None:
    problem = only(
        scratch_library.check_line("Hi {{ customer.first_name", path="workflows/x.yaml", line=7)
    )
    assert str(problem).startswith("workflows/x.yaml:7: Jinja syntax error")
    fine = "Hi {{ customer.first_name | default('there') }}"
    assert scratch_library.check_line(fine, path="w.yaml") == []
    unguarded = only(scratch_library.check_line("Hi {{ customer.first_name }}", path="w.yaml"))
    assert unguarded.message.startswith("customer.first_name is missing for customers whose")
