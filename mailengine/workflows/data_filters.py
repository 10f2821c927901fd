"""Check an event's data against a trigger's or goal's `where:` filter, in Python.

    trigger: {event: order.placed, where: {channel: online, total: {gte: 100}}}

Numbers compare as numbers (the text "42" equals 42, as in audiences); a missing key matches
only `ne`, `not_in` and `is_set: false`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mailengine.workflows.model import Comparison, DataFilter


def event_matches(where: DataFilter | None, data: Mapping[str, Any]) -> bool:
    """True when every comparison of `where` holds for `data` (no filter: always)."""
    if where is None:
        return True
    return all(_holds(comparison, data) for comparison in where.comparisons)


def _holds(comparison: Comparison, data: Mapping[str, Any]) -> bool:
    operator, wanted = comparison.operator, comparison.value
    present = comparison.field in data and data[comparison.field] is not None
    value = data.get(comparison.field)
    if operator == "is_set":
        return present is wanted
    if operator in ("ne", "not_in") and not present:
        return True
    if not present:
        return False
    if operator == "starts_with":
        return isinstance(value, str) and value.startswith(str(wanted))
    if operator in ("in", "not_in"):
        assert isinstance(wanted, tuple)
        found = any(_equal(value, item) for item in wanted)
        return found if operator == "in" else not found
    if operator == "eq":
        return _equal(value, wanted)
    if operator == "ne":
        return not _equal(value, wanted)
    left, right = _number(value), _number(wanted)
    if left is None or right is None:
        return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }.get(operator, False)


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    left, right = _number(value), _number(wanted)
    if left is not None and right is not None and not isinstance(wanted, str):
        return left == right
    return str(value) == str(wanted)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None
