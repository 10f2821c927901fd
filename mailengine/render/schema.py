"""What templates can see, as a tree of shapes read from the render context's type hints.

`render.context` declares the context as TypedDicts: a required key is always there, a
`NotRequired` one only when the customer's data has it, `X | None` may be None, and
`dict[str, V]` (the customer's attributes) may hold any key or none. Reading those hints
rather than restating them keeps `validate` in step with what `build_context` builds.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from mailengine.render.context import RenderContext


@dataclass(frozen=True)
class Shape:
    """A value whose inside is not checked: text, a number, a date, or anything."""

    kind: str = "value"
    nullable: bool = False  # None for some customers (`last_order` without orders)


@dataclass(frozen=True)
class Field:
    shape: Shape
    required: bool


@dataclass(frozen=True)
class Record(Shape):
    """A dict with known keys (`customer`, `last_order`)."""

    fields: Mapping[str, Field] = field(default_factory=dict)


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape = field(default_factory=Shape)


@dataclass(frozen=True)
class FreeMapping(Shape):
    """A dict of any keys, each one there or not for a given customer (`attributes`)."""

    value: Shape = field(default_factory=Shape)


@dataclass(frozen=True)
class NamedByFiles(FreeMapping):
    """A dict whose keys are named by files, the same for every customer (`polls`, from
    `polls/*.yaml`): any key a template reads is there or the mail fails for everyone,
    which rendering it for sample customers shows."""


ANYTHING = Shape("anything")
# Top-level names whose keys come from files (poll and questionnaire names).
NAMED_BY_FILES = ("polls", "questionnaires")

# Added beside the context: the rendered subject and preheader and the tag of the copy's
# language (`de`, by the template library),
# and `support` in the mail to the support team (from the send's payload, only there).
EXTRA_NAMES: dict[str, Field] = {
    "subject": Field(Shape("text"), required=True),
    "preheader": Field(Shape("text"), required=True),
    "language": Field(Shape("text"), required=True),
    "support": Field(ANYTHING, required=False),
}

# Fields present only for one value of a sibling field: a percent coupon has `percent`,
# an amount coupon `amount`. `{% if coupon.kind == 'percent' %}` guards `coupon.percent`.
DISCRIMINATORS: dict[str, dict[str, tuple[str, ...]]] = {
    "kind": {"percent": ("percent",), "amount": ("amount",)},
}


@lru_cache(maxsize=1)
def context_schema() -> Record:
    """The top-level names a template sees, with their shapes."""
    top = _record(RenderContext)
    named = {
        name: Field(NamedByFiles("mapping", value=top.fields[name].shape.value), required=True)  # type: ignore[attr-defined]
        for name in NAMED_BY_FILES
    }
    return Record("record", fields={**top.fields, **named, **EXTRA_NAMES})


def _record(typed_dict: Any) -> Record:
    hints = get_type_hints(typed_dict, include_extras=True)
    required = getattr(typed_dict, "__required_keys__", frozenset(hints))
    fields = {}
    for name, hint in hints.items():
        # Under `from __future__ import annotations` the class cannot see NotRequired itself.
        present = name in required
        if get_origin(hint) is NotRequired:
            hint, present = get_args(hint)[0], False
        fields[name] = Field(_shape(hint), present)
    return Record("record", fields=fields)


def _shape(hint: Any) -> Shape:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        nullable = len(members) < len(get_args(hint))
        inner = _shape(members[0]) if len(members) == 1 else Shape("value")
        return _with_nullable(inner, nullable)
    if origin in (list, Sequence, tuple):
        return ListOf("list", item=_shape(get_args(hint)[0]))
    if origin in (dict, Mapping):
        return FreeMapping("mapping", value=_shape(get_args(hint)[1]))
    if origin is Literal:
        return Shape("text")
    if isinstance(hint, type) and hasattr(hint, "__required_keys__"):
        return _record(hint)
    if hint is str:
        return Shape("text")
    return Shape("value")


def _with_nullable(shape: Shape, nullable: bool) -> Shape:
    if not nullable:
        return shape
    if isinstance(shape, Record):
        return Record(shape.kind, True, shape.fields)
    if isinstance(shape, ListOf):
        return ListOf(shape.kind, True, shape.item)
    if isinstance(shape, FreeMapping):
        return FreeMapping(shape.kind, True, shape.value)
    return Shape(shape.kind, True)
