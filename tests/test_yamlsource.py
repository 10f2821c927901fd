"""Safe YAML loading that remembers where each key is."""

from __future__ import annotations

import pytest

from mailengine.errors import SourceError
from mailengine.yamlsource import load_yaml_text


def test_locations_of_nested_keys_and_items() -> None:
    document = load_yaml_text("name: x\nsteps:\n  - send: a\n  - wait: 3 days\n", "w.yaml")
    assert document.data == {"name": "x", "steps": [{"send": "a"}, {"wait": "3 days"}]}
    assert str(document.location(("steps", 1, "wait"))) == "w.yaml:4:5"
    assert str(document.location(("steps", 1, "missing"))) == "w.yaml:4:5"
    assert str(document.location(("name",))) == "w.yaml:1:1"


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(SourceError, match=r"w\.yaml:3:1: duplicate key 'a'"):
        load_yaml_text("a: 1\nb: 2\na: 3\n", "w.yaml")


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(SourceError, match=r"w\.yaml:1:4: unsupported YAML tag"):
        load_yaml_text("a: !!python/object/apply:os.system ['true']\n", "w.yaml")


def test_unsafe_scalar_tags_are_refused() -> None:
    with pytest.raises(SourceError, match="invalid YAML"):
        load_yaml_text("a: !!python/name:os.system\n", "w.yaml")


def test_empty_document_is_none() -> None:
    assert load_yaml_text("", "w.yaml").data is None


def test_a_character_yaml_does_not_allow_is_a_problem_at_its_place() -> None:
    with pytest.raises(SourceError, match=r"w\.yaml:2:6: invalid YAML: character U\+007F"):
        load_yaml_text('a: 1\nb: "x\x7fy"\n', "w.yaml")
