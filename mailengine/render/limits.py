"""What one render may cost: caps that stop CPU and memory bombs written into a template.

Jinja's sandbox keeps templates from reaching Python, not from spending it: `{{ 'a'*10**9 }}`
or two nested `range(100000)` loops ran for minutes and took gigabytes, in `preview` and
`validate` too. Each render of a `MailSandbox` template now runs on a budget:

* values made by operators and string methods or filters (`*`, `**`, `+`, `~`, `%`, `center`,
  `replace`, format widths...) hold at most MAX_PRODUCED characters or items, checked before
  they are made;
* all loops of one render take at most MAX_LOOP_STEPS steps in all;
* the output is at most MAX_OUTPUT characters;
* one render takes at most MAX_SECONDS of wall-clock time, checked at every loop step and call.

A render over a cap fails alone with RenderLimitError, which names the cap; the rendering code
turns it into the usual error naming template, line and customer.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from itertools import islice
from typing import Any

from mailengine.errors import MailengineError

MAX_PRODUCED = 100_000
MAX_LOOP_STEPS = 200_000
MAX_OUTPUT = 2_000_000
MAX_SECONDS = 2.0
_PIECES_AT_ONCE = 64
# A format width or precision of six digits or more ("%1000000s", "{:>999999}").
_HUGE_WIDTH = re.compile(r"\d{6,}")
# String methods and filters whose argument sets the size of what they make.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate"})


class RenderLimitError(MailengineError, RuntimeError):
    """A render went over one of its caps (size, loop steps, output, time)."""


@dataclass
class _Budget:
    steps_left: int
    deadline: float


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "render_budget", default=None
)


def run_on_budget(render: Callable[[], Iterable[str]]) -> str:
    """Join what `render` yields, on a fresh budget; RenderLimitError past a cap."""
    return "".join(_on_budget(render, joined=True))


def pieces_on_budget(render: Callable[[], Iterable[str]]) -> list[str]:
    """What `render` yields, on a fresh budget; RenderLimitError past a cap."""
    return _on_budget(render, joined=False)


def _on_budget(render: Callable[[], Iterable[str]], *, joined: bool) -> list[str]:
    """What `render` yields, as it yields it or (`joined`) in joined slices."""
    token = _budget.set(_Budget(MAX_LOOP_STEPS, time.monotonic() + MAX_SECONDS))
    try:
        kept: list[str] = []
        size = 0
        rendering = iter(render())
        # Counted a slice of pieces at a time, in C (a template yields some 200 pieces, and
        # a Python step for each cost a tenth of the render): past the cap by at most one
        # slice of pieces, each a value of at most MAX_PRODUCED or a piece of the template.
        # A slice is measured joined: `len` mapped over its pieces took twice as long (some
        # 4 us for a 44 KB HTML body), the join of a slice is freed or kept (`joined`).
        while chunk := list(islice(rendering, _PIECES_AT_ONCE)):
            text = "".join(chunk)
            size += len(text)
            if size > MAX_OUTPUT:
                raise RenderLimitError(f"the output is over {MAX_OUTPUT:,} characters")
            if joined:
                kept.append(text)
            else:
                kept += chunk
        return kept
    finally:
        _budget.reset(token)


def check_time() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise RenderLimitError(f"rendering took over {MAX_SECONDS:g} s")


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """The items of a template loop, each one a step of the render's budget."""
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.steps_left -= 1
            if budget.steps_left < 0:
                raise RenderLimitError(f"the loops took over {MAX_LOOP_STEPS:,} steps")
            if budget.steps_left % 1024 == 0 and time.monotonic() > budget.deadline:
                raise RenderLimitError(f"rendering took over {MAX_SECONDS:g} s")
        yield item


def checked_binop(symbol: str, left: Any, right: Any) -> Any:
    """`left symbol right`, refused when the result would be over MAX_PRODUCED."""
    if symbol == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
    elif symbol == "**":
        _check_power(left, right)
    elif symbol == "%" and isinstance(left, str) and _HUGE_WIDTH.search(left):
        raise RenderLimitError("a format width or precision of a million or more")
    elif symbol == "+" and _sized(left) and _sized(right):
        _check_size(len(left) + len(right), "+")
    return _OPERATORS[symbol](left, right)


def checked_concat(parts: Iterable[Any], join: Callable[[Iterable[Any]], str]) -> str:
    """Jinja's `~`, refused when the joined text would be over MAX_PRODUCED."""
    items = list(parts)
    _check_size(sum(len(item) if isinstance(item, str) else 20 for item in items), "~")
    return join(items)


def check_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before a call from a template: string methods that make text of a given size."""
    check_time()
    # The sandbox hands out str.format wrapped; the wrapper keeps the method as __wrapped__.
    function = getattr(function, "__wrapped__", function)
    owner = getattr(function, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(function, "__name__", "")
    if name in _WIDTH_METHODS:
        _check_widths(args, kwargs, name)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        grows = max(0, len(new) - len(old)) * (owner.count(old) if old else len(owner) + 1)
        _check_size(len(owner) + grows, "replace")
    elif name in ("format", "format_map") and _HUGE_WIDTH.search(owner):
        raise RenderLimitError("a format width or precision of a million or more")


def checked_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose size-setting arguments and result are checked."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_time()
        if name in _WIDTH_FILTERS:
            _check_widths(args[1:], kwargs, name)
        elif name == "format" and args and _HUGE_WIDTH.search(str(args[0])):
            raise RenderLimitError("a format width or precision of a million or more")
        result = function(*args, **kwargs)
        if isinstance(result, str | list | tuple):
            _check_size(len(result), f"the {name} filter")
        return result

    return guarded


def _sized(value: Any) -> bool:
    return isinstance(value, Sized) and isinstance(value, str | list | tuple | bytes)


def _check_repeat(sequence: Any, times: Any) -> None:
    if _sized(sequence) and isinstance(times, int):
        _check_size(len(sequence) * times, "*")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and max(abs(base), 2).bit_length() * exponent > 4 * MAX_PRODUCED
    ):
        raise RenderLimitError(f"{base} ** {exponent} is too large a number")


def _check_widths(args: Iterable[Any], kwargs: dict[str, Any], name: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool):
            _check_size(value, name)


def _check_size(size: int, what: str) -> None:
    if size > MAX_PRODUCED:
        raise RenderLimitError(
            f"{what} would make {size:,} characters or items, over the {MAX_PRODUCED:,} allowed"
        )


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
    "+": operator.add,
}
INTERCEPTED_BINOPS = frozenset(_OPERATORS)
