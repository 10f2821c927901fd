"""What `{{ }}` writes into HTML kept as ASCII is kept per value: the same text as made
afresh, a str and Markup of the same text each their own, short values only, a bounded
number of them."""

from __future__ import annotations

import pytest
from markupsafe import Markup, escape

from mailengine.render import environment
from mailengine.render.environment import output_escape_as_ascii
from mailengine.render.wire_html import character_references


def fresh(value: object) -> str:
    return character_references(str(escape(value)))


@pytest.mark.parametrize("value", ["Anna", "<b>Jürgen & Co</b>", "", "😀 €", "a" * 300])
def test_kept_text_is_what_is_made_afresh(value: str) -> None:
    assert output_escape_as_ascii(value) == fresh(value)
    assert output_escape_as_ascii(value) == fresh(value)  # (now from what was kept)
    markup = Markup(value)
    assert output_escape_as_ascii(markup) == fresh(markup)
    assert output_escape_as_ascii(markup) == fresh(markup)


def test_a_str_and_markup_of_the_same_text_are_each_their_own() -> None:
    text = "<i>Größe</i> 42"
    for _ in range(2):
        assert output_escape_as_ascii(text) == "&lt;i&gt;Gr&#246;&#223;e&lt;/i&gt; 42"
        assert output_escape_as_ascii(Markup(text)) == "<i>Gr&#246;&#223;e</i> 42"


def test_numbers_and_booleans_are_not_mixed_up() -> None:
    assert [output_escape_as_ascii(value) for value in (1, True, 1.0, "1")] == [
        "1",
        "True",
        "1.0",
        "1",
    ]


def test_only_short_values_are_kept_and_only_so_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "_ESCAPED", {})
    monkeypatch.setattr(environment, "_ESCAPED_KEPT", 8)
    output_escape_as_ascii("x" * (environment._ESCAPED_LONGEST + 1))
    assert environment._ESCAPED == {}
    for number in range(20):
        assert output_escape_as_ascii(f"<{number}>") == f"&lt;{number}&gt;"
        assert len(environment._ESCAPED) <= 8
