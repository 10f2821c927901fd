"""What the pieces Jinja yields for one message tell about the HTML they make, without a pass
over the whole body: whether it goes as 7bit as it is, and where each `<a` starts.

A rendered HTML body is its template's static text (the string constants of its compiled
code, some 40 KB) with the values of its constructs in between (some 1.5 KB). The static
pieces of each skeleton (the sequence of static pieces and values one message is made of;
a template has a few, as its conditions fall) are searched once; per message only the values
are searched, and the lines, line starts and anchors that values shift are placed by the
values' lengths. Searching 44 KB for two-character patterns runs at about a character per
nanosecond: the blank-run, line-start and anchor searches and the line lengths took some
150 µs a message.

Nothing here trusts where a piece comes from: a skeleton is known by the text of its static
pieces, and a value that happens to equal a static piece is that text. Whatever the pieces
cannot settle (a value with a line break or a `<`, a value at a seam that could make a blank
run) gets no `AnchoredHtml`, and the body is shaped and checked whole as before.
"""

from __future__ import annotations

import re
import types
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import add, sub

from jinja2 import Template

from mailengine.render.wire_html import SevenBitHtml

LINE_LIMIT = 998  # longest line of a 7bit body (RFC 5322 2.1.1)


class AnchoredHtml(SevenBitHtml):
    """Rendered HTML that goes as 7bit as it is (see SevenBitHtml), with where each `<a` (in
    any case) starts in it, in order: `anchors`. Like RelaxedSafeText, whatever str methods
    make of it is a plain str again."""

    anchors: tuple[int, ...] = ()


_ANCHOR_START = re.compile(r"<a", re.IGNORECASE)
_VALUE = "\x00"  # stands for a value in a skeleton's text
# In a skeleton's text, what breaks every message made from it: a blank run, a risky line
# start, a "<" before a value (an `<a` the values might make).
_BROKEN_SKELETON = re.compile(r"^(?:\.|From )|  | \n|\n(?:\.|From )|<\x00")
# A line start the values decide: a value within the first five characters of the line.
_OPEN_LINE_START = re.compile(r"(?:^|(?<=\n))(?=[^\n]{0,4}\x00)")
_SKELETONS_KEPT = 256


@dataclass(frozen=True, slots=True)
class _Skeleton:
    """What the static pieces of one sequence of static pieces and values settle, and
    where, given the values' lengths, the rest is: positions in the static text with the
    number of values before them (a position in the message is the two added up)."""

    broken: bool
    is_value: tuple[bool, ...] = ()
    # Lines holding values: their static length and the range of values in them.
    line_static: tuple[int, ...] = ()
    line_first_value: tuple[int, ...] = ()
    line_end_value: tuple[int, ...] = ()
    # Line starts the values decide.
    starts_static: tuple[int, ...] = ()
    starts_values: tuple[int, ...] = ()
    anchors_static: tuple[int, ...] = ()
    anchors_values: tuple[int, ...] = ()


class PieceTable:
    """One template's static pieces (the string constants of its compiled code) that keep
    the wire rules inside themselves, and the skeletons (sequences of those pieces with
    values between them) its messages were made of, each looked at once."""

    def __init__(self, template: Template) -> None:
        codes = [template.root_render_func.__code__]
        codes += [block.__code__ for block in template.blocks.values()]
        # An empty value is the empty text: the pieces around it meet in its skeleton.
        self._index: dict[str, int] = {"": 0}
        for code in codes:
            for text in _constants(code):
                if _VALUE not in text:
                    self._index.setdefault(text, len(self._index))
        self._texts = list(self._index)
        self._skeletons: dict[tuple[int | None, ...], _Skeleton] = {}

    def wire_html(self, pieces: list[str]) -> AnchoredHtml | None:
        """The joined pieces as AnchoredHtml, or None when the pieces do not show that they keep
        the wire rules (they may still: the caller then shapes and checks the whole)."""
        html = "".join(pieces)
        if not html.isascii() or "\r" in html or "\t" in html or "\x00" in html:
            return None
        if html.startswith((".", "From ")) or html.endswith(" "):
            return None
        key = tuple(map(self._index.get, pieces))
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            skeleton = self._skeleton(key)
        if skeleton.broken:
            return None
        values = list(compress(pieces, skeleton.is_value))
        joined = _VALUE + _VALUE.join(values) + _VALUE
        if (
            "\n" in joined
            or "<" in joined
            or _SPACE_BEFORE_SPACE_OR_END.search(joined)
            or _SPACE_AT_START.search(joined)
        ):
            return None
        ends = list(accumulate(map(len, values), initial=0))
        before = ends.__getitem__
        lines = map(
            add,
            skeleton.line_static,
            map(sub, map(before, skeleton.line_end_value), map(before, skeleton.line_first_value)),
        )
        if max(lines, default=0) > LINE_LIMIT:
            return None
        starts = map(add, skeleton.starts_static, map(before, skeleton.starts_values))
        if any(map(html.startswith, repeat((".", "From ")), starts)):
            return None
        made = AnchoredHtml(html)
        made.anchors = tuple(
            map(add, skeleton.anchors_static, map(before, skeleton.anchors_values))
        )
        return made

    def _skeleton(self, key: tuple[int | None, ...]) -> _Skeleton:
        texts = self._texts
        model = "".join(_VALUE if index is None else texts[index] for index in key)
        if _BROKEN_SKELETON.search(model):
            skeleton = _Skeleton(broken=True)
        else:
            skeleton = _measured(model, tuple(index is None for index in key))
        if len(self._skeletons) >= _SKELETONS_KEPT:
            self._skeletons.clear()
        self._skeletons[key] = skeleton
        return skeleton


# In the values joined with (and between) NULs: a line break, a blank run, a value starting
# or ending with a space (next to a piece that may end or start with one), `<a`. The two-
# character patterns by the regex engine's literal search: `in` took some 1 us for each on
# 1.5 KB of values, the regex searches 0.6.
_SPACE_BEFORE_SPACE_OR_END = re.compile(" [ \x00]")
_SPACE_AT_START = re.compile("\x00 ")


def _measured(model: str, is_value: tuple[bool, ...]) -> _Skeleton:
    """The skeleton whose text (a NUL for each value) is `model`."""
    value_at = [found.start() for found in re.finditer(_VALUE, model)]

    def split(at: int) -> tuple[int, int]:  # (static position, values before)
        values = bisect_left(value_at, at)
        return at - values, values

    line_static, line_first, line_end = [], [], []
    values_before = 0
    for line in model.split("\n"):
        values = line.count(_VALUE)
        if values:
            line_static.append(len(line) - values)
            line_first.append(values_before)
            line_end.append(values_before + values)
            values_before += values
        elif len(line) > LINE_LIMIT:
            return _Skeleton(broken=True)
    starts = [split(found.start()) for found in _OPEN_LINE_START.finditer(model)]
    anchors = [split(found.start()) for found in _ANCHOR_START.finditer(model)]
    return _Skeleton(
        broken=False,
        is_value=is_value,
        line_static=tuple(line_static),
        line_first_value=tuple(line_first),
        line_end_value=tuple(line_end),
        starts_static=tuple(static for static, _ in starts),
        starts_values=tuple(values for _, values in starts),
        anchors_static=tuple(static for static, _ in anchors),
        anchors_values=tuple(values for _, values in anchors),
    )


def _constants(code: types.CodeType) -> Iterator[str]:
    for constant in code.co_consts:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, types.CodeType):
            yield from _constants(constant)
