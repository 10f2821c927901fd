"""CPU and memory bombs in a template fail that render quickly, naming the cap; nothing hangs."""

from __future__ import annotations

import resource
import time

import pytest

from mailengine.errors import RenderError
from mailengine.render import TemplateLibrary
from mailengine.render.environment import text_environment
from mailengine.render.limits import MAX_LOOP_STEPS, RenderLimitError
from tests.render.conftest import WriteTemplate
from tests.render.test_render_sandbox import body, context

BOMBS = [
    ("{{ 'a' * 10**9 }}", "would make 1,000,000,000"),
    ("{{ ['x'] * 10**8 }}", "would make 100,000,000"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "steps"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}", ""),
    ("{{ 'a'.ljust(10**9) }}", "ljust would make"),
    ("{{ 'a' | center(10**9) }}", "center would make"),
    ("{{ ('a' * 1000) | replace('a', 'b' * 1000) }}", "replace"),
    ("{{ ('a' * 1000).replace('a', 'b' * 1000) }}", "replace would make"),
    ("{{ '%1000000000s' % 1 }}", "format width"),
    ("{{ '{:>1000000000}'.format(1) }}", "format width"),
    ("{{ '%1000000000s' | format(1) }}", "format width"),
    ("{{ 2 ** (10**9) }}", "too large a number"),
    (
        "{% set ns = namespace(x='ab') %}{% for i in range(40) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}",
        "~ would make",
    ),
    (
        "{% set ns = namespace(x=['a']) %}{% for i in range(40) %}"
        "{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x | length }}",
        "+ would make",
    ),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("expression", "reason"), BOMBS)
def test_a_bomb_fails_its_render_fast_and_small(
    write_template: WriteTemplate,
    scratch_library: TemplateLibrary,
    expression: str,
    reason: str,
) -> None:
    write_template("bomb", body(expression))
    peak_before = _peak_rss_mb()
    started = time.monotonic()
    scratch_library.compiled("bomb")  # compiling folds no constants: nothing goes off here
    with pytest.raises(RenderError) as caught:
        scratch_library.render("bomb", context(), subject="S")
    assert time.monotonic() - started < 10
    assert _peak_rss_mb() - peak_before < 300
    message = str(caught.value)
    assert "bomb" in message and "evil@example.com" in message  # template and customer
    assert reason in message


@pytest.mark.parametrize(("expression", "reason"), BOMBS[:3])
def test_a_bomb_in_a_subject_fails_the_same_way(
    write_template: WriteTemplate, scratch_library: TemplateLibrary, expression: str, reason: str
) -> None:
    write_template("plain", body("Hello"))
    with pytest.raises(RenderError) as caught:
        scratch_library.render("plain", context(), subject=expression)
    assert reason in str(caught.value)


def test_loops_share_one_budget_per_render_and_each_render_has_its_own() -> None:
    template = text_environment().from_string(
        "{% for a in range(n) %}{% for b in range(n) %}.{% endfor %}{% endfor %}"
    )
    side = int(MAX_LOOP_STEPS**0.5) - 2  # just within: side + side * side steps
    for _ in range(3):
        assert len(template.render(n=side)) == side * side
    with pytest.raises(RenderLimitError, match="steps"):
        template.render(n=side + 4)


def test_ordinary_templates_keep_working(
    write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template(
        "fine",
        body(
            "{% for item in last_order['items'] %}{{ loop.index }}/{{ loop.length }} "
            "{{ item.name ~ ' (' ~ item.size ~ ')' }}{% if loop.last %}.{% endif %}{% endfor %}"
            " {{ '-' * 20 }} {{ 'x'.center(9) }} {{ '%05d' % 42 }} {{ 2 ** 10 }}"
        ),
    )
    rendered = scratch_library.render("fine", context(first_name="Ada"), subject="Hi")
    assert "1/1 Shirt &lt;slim&gt; (M)." in rendered.html
    assert "-" * 20 in rendered.html and "00042" in rendered.html and "1024" in rendered.html


def test_output_over_its_cap_fails_even_when_each_piece_is_within_the_others() -> None:
    template = text_environment().from_string(
        "{% for i in range(n) %}{{ 'x' * 99000 }}{% endfor %}"
    )
    assert len(template.render(n=20)) == 20 * 99000
    with pytest.raises(RenderLimitError, match="output is over 2,000,000"):
        template.render(n=21)
