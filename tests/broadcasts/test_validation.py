"""Broadcast validation: templates exist and compile, subjects are Jinja, each template uses
only what the broadcast's mail has; every problem where it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailengine.broadcasts.validation import validate_broadcasts
from mailengine.render import TemplateLibrary
from tests.broadcasts.conftest import GOOD, REPO, WriteBroadcast

TEMPLATE = """\
<mjml><mj-body><mj-section><mj-column>
<mj-text>{{ broadcast.content.headline }}</mj-text>
<mj-text>{% for line in broadcast.content.lines %}{{ line }}{% endfor %}</mj-text>
</mj-column></mj-section></mj-body></mjml>
"""
CONTENT = "content:\n  headline: Hello\n  lines: [one, two]\n"


@pytest.fixture
def library(tmp_path: Path) -> TemplateLibrary:
    folder = tmp_path / "templates" / "newsletter"
    folder.mkdir(parents=True)
    (folder / "newsletter.mjml").write_text(TEMPLATE, encoding="utf-8")
    return TemplateLibrary(tmp_path / "templates")


def checked(tmp_path: Path, library: TemplateLibrary) -> list[str]:
    result = validate_broadcasts([tmp_path / "broadcasts"], library, tmp_path)
    return [str(problem) for problem in result.problems]


def test_the_examples_load_and_validate() -> None:
    result = validate_broadcasts([REPO / "broadcasts"], TemplateLibrary(REPO / "templates"), REPO)
    assert [str(problem) for problem in result.problems] == []
    assert sorted(result.broadcasts) == ["december-newsletter", "winter-sale"]
    sale = result.broadcasts["winter-sale"]
    assert [(v.name, v.share) for v in sale.variants] == [("A", 1000), ("B", 1000)]
    assert sale.winner is not None and sale.winner.metric == "clicks"
    assert sale.coupon is not None and sale.coupon.percent == 20
    assert sale.throttle is not None and sale.throttle.per_hour == 20_000


def test_content_the_file_has_is_there_for_the_template(
    tmp_path: Path, write_broadcast: WriteBroadcast, library: TemplateLibrary
) -> None:
    write_broadcast("b.yaml", GOOD + CONTENT)
    assert checked(tmp_path, library) == []
    write_broadcast("b.yaml", GOOD + "content:\n  headline: Hello\n")
    assert checked(tmp_path, library) == [
        "templates/newsletter/newsletter.mjml:3:43: broadcast.content.lines is missing when the "
        "broadcast's content has no 'lines': give a fallback such as "
        "{{ broadcast.content.lines | default('...') }} or test it first with "
        "{% if broadcast.content.lines %}"
    ]


def test_missing_templates_are_named_where_the_file_names_them(
    tmp_path: Path, write_broadcast: WriteBroadcast, library: TemplateLibrary
) -> None:
    text = (
        GOOD
        + CONTENT
        + (
            "ab_test:\n"
            "  variants:\n"
            "    - {name: A, share: 50%}\n"
            "    - {name: B, share: 50%, template: newsletter/gone}\n"
        )
    )
    write_broadcast("b.yaml", text)
    assert checked(tmp_path, library) == [
        "broadcasts/b.yaml:11:29: template 'newsletter/gone' not found: expected "
        "templates/newsletter/gone.mjml"
    ]
    write_broadcast("b.yaml", GOOD.replace("newsletter/newsletter", "newsletter/gone"))
    assert checked(tmp_path, library) == [
        "broadcasts/b.yaml:2:1: template 'newsletter/gone' not found: expected "
        "templates/newsletter/gone.mjml"
    ]


def test_subject_and_preheader_problems_are_where_they_are_written(
    tmp_path: Path, write_broadcast: WriteBroadcast, library: TemplateLibrary
) -> None:
    text = (
        GOOD.replace("default('there') }}", "default('there') ")
        + CONTENT
        + "preheader: '{{ custmer.city }}'\n"
        + "ab_test:\n  variants:\n"
        + "    - {name: A, share: 50%}\n"
        + "    - {name: B, share: 50%, subject: '{{ coupon.code }}'}\n"
    )
    write_broadcast("b.yaml", text)
    found = checked(tmp_path, library)
    assert found[0].startswith("broadcasts/b.yaml:3:1: subject: Jinja syntax error: ")
    assert found[1].startswith(
        "broadcasts/b.yaml:8:1: preheader: unknown name 'custmer' (did you mean 'customer'?)"
    )
    assert found[2] == (
        "broadcasts/b.yaml:12:29: subject: coupon is None in a step that gives no coupon: test "
        "it first with {% if coupon %}"
    )
    assert len(found) == 3  # the preheader A and B share is reported once


def test_a_template_that_does_not_compile_is_a_problem_in_the_template(
    tmp_path: Path, write_broadcast: WriteBroadcast, library: TemplateLibrary
) -> None:
    broken = tmp_path / "templates" / "newsletter" / "newsletter.mjml"
    broken.write_text(TEMPLATE.replace("{% endfor %}", ""), encoding="utf-8")
    write_broadcast("b.yaml", GOOD + CONTENT)
    found = checked(tmp_path, library)
    assert found and all(p.startswith("templates/newsletter/newsletter.mjml:") for p in found)
    assert "Jinja syntax error" in found[0]
