"""Read audience and branch conditions from YAML data into the typed model, reporting mistakes.

all:                                   # every one of these
  - orders_count: {gte: 1}
  - last_order_at: {before: 90 days ago}
  - city: [Berlin, Hamburg]            # a list means "one of"
  - not: {attributes.vip: true}
  - top: {percent: 20, by: spent_365d}
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mailengine.workflows import fields, phrases
from mailengine.workflows.model import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    DataFilter,
    Not,
    Operator,
    RfmScore,
    RfmSegment,
    Scalar,
    TopPercent,
    WindowComparison,
)
from mailengine.workflows.problems import ProblemLog, did_you_mean, unknown_key_message
from mailengine.workflows.rfm import SCORE_RANGE, SEGMENTS
from mailengine.yamlsource import PathKey

_NUMERIC_OPERATORS: tuple[Operator, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in")


class _Invalid(Exception):
    """A value is wrong; the message is reported at the value's key."""


def parse_condition(data: Any, at: PathKey, log: ProblemLog) -> Condition | None:
    """The condition written at `at`, or None (with problems logged) when it is wrong."""
    if isinstance(data, list):
        log.at(at, "a condition is a mapping; to require several, write 'all:' with a list")
        return None
    if not isinstance(data, dict) or not data:
        log.at(at, "expected a condition such as {orders_count: {gte: 1}}")
        return None
    parts = [_parse_entry(key, value, (*at, key), log) for key, value in data.items()]
    if any(part is None for part in parts):
        return None
    found = [part for part in parts if part is not None]
    return found[0] if len(found) == 1 else AllOf(tuple(found))


def parse_data_filter(data: Any, at: PathKey, log: ProblemLog) -> DataFilter | None:
    """`where: {channel: online, total: {gte: 100}}`: comparisons on an event's data keys."""
    if not isinstance(data, dict) or not data:
        log.at(at, "expected a mapping of event data keys, e.g. {channel: online}")
        return None
    comparisons: list[Comparison] = []
    ok = True
    for key, value in data.items():
        parsed = _field_comparisons(key, fields.FieldSpec(key, "attribute", ""), value, at, log)
        if parsed is None:
            ok = False
        else:
            comparisons.extend(parsed)
    return DataFilter(tuple(comparisons)) if ok else None


def _parse_entry(key: str, value: Any, at: PathKey, log: ProblemLog) -> Condition | None:
    if key in ("all", "any"):
        return _parse_group(key, value, at, log)
    if key == "not":
        inner = parse_condition(value, at, log)
        return Not(inner) if inner is not None else None
    try:
        if key == "top":
            return _parse_top(value)
        if key == "rfm":
            return _parse_rfm(value)
        if key == "rfm_segment":
            return _parse_segments(value)
        if key in ("spent", "orders"):
            return _parse_window(key, value)
    except _Invalid as error:
        log.at(at, f"{key}: {error}")
        return None
    spec = fields.spec_of(key)
    if spec is None:
        _unknown_field(key, at, log)
        return None
    comparisons = _field_comparisons(key, spec, value, at[:-1], log)
    if comparisons is None:
        return None
    return comparisons[0] if len(comparisons) == 1 else AllOf(tuple(comparisons))


def _unknown_field(key: str, at: PathKey, log: ProblemLog) -> None:
    if key.startswith(fields.ATTRIBUTE_PREFIX):
        log.at(at, f"'{key}': an attribute name is letters, digits and '_' (e.g. shoe_size)")
        return
    if key.startswith(fields.POLL_PREFIX):
        log.at(at, f"'{key}': a poll name is lower-case letters, digits and '_' (delivery_nps)")
        return
    names = [*fields.FIELDS, *fields.SPECIAL_KEYS, *fields.GROUP_KEYS]
    hint = did_you_mean(key, names)
    log.at(
        at,
        f"unknown field '{key}' in condition{hint}; fields: {', '.join(fields.field_names())}",
    )


def _parse_group(key: str, value: Any, at: PathKey, log: ProblemLog) -> Condition | None:
    if not isinstance(value, list) or not value:
        log.at(at, f"'{key}' takes a non-empty list of conditions")
        return None
    parts = [parse_condition(item, (*at, index), log) for index, item in enumerate(value)]
    if any(part is None for part in parts):
        return None
    conditions = tuple(part for part in parts if part is not None)
    return AllOf(conditions) if key == "all" else AnyOf(conditions)


def _field_comparisons(
    name: str, spec: fields.FieldSpec, value: Any, parent: PathKey, log: ProblemLog
) -> list[Comparison] | None:
    """`city: Berlin`, `city: [Berlin, Hamburg]` or `orders_count: {gte: 1, lte: 5}`."""
    at = (*parent, name)
    allowed = fields.operators_of(spec)
    if isinstance(value, dict):
        if not value:
            log.at(at, f"'{name}' needs an operator: {', '.join(allowed)}")
            return None
        items = list(value.items())
    elif isinstance(value, list):
        items = [("in", value)]
    else:
        items = [("eq", value)]
    result: list[Comparison] = []
    ok = True
    for operator, operand in items:
        where = (*at, operator) if isinstance(value, dict) else at
        if operator not in allowed:
            known = operator in fields.ALL_OPERATORS
            reason = (
                f"'{name}' cannot use '{operator}'"
                if known
                else (f"unknown operator '{operator}'{did_you_mean(operator, allowed)}")
            )
            log.at(where, f"{reason}; operators for {spec.kind} fields: {', '.join(allowed)}")
            ok = False
            continue
        try:
            result.append(Comparison(name, operator, _operand(spec, operator, operand)))
        except _Invalid as error:
            log.at(where, f"{name} {operator}: {error}")
            ok = False
    return result if ok else None


def _operand(
    spec: fields.FieldSpec, operator: Operator, value: Any
) -> Scalar | timedelta | tuple[Scalar, ...]:
    if operator == "is_set":
        if not isinstance(value, bool):
            raise _Invalid(f"expected true or false, got {value!r}")
        return value
    if operator == "within":
        duration: timedelta = _checked(phrases.parse_duration, value)
        return duration
    if operator in ("before", "after"):
        moment: Scalar = _checked(phrases.parse_moment, value)
        if spec.kind == "date" and isinstance(moment, datetime):
            raise _Invalid(f"'{spec.name}' is a date: compare it with a date, e.g. '2000-01-01'")
        return moment
    if operator in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _Invalid("expected a non-empty list of values")
        items = tuple(_scalar(spec, operator, item) for item in value)
        if len({_type_name(item) for item in items}) > 1:
            raise _Invalid("the values of a list must all be of one type (all text or numbers)")
        return items
    return _scalar(spec, operator, value)


def _scalar(spec: fields.FieldSpec, operator: Operator, value: Any) -> Scalar:
    kind = spec.kind
    if isinstance(value, dict | list) or value is None:
        shown = "nothing" if value is None else f"a {type(value).__name__}"
        raise _Invalid(f"expected a single value, got {shown}")
    if operator == "starts_with":
        if not isinstance(value, str) or not value:
            raise _Invalid(f"expected some text, got {value!r}")
        return value
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Invalid(f"expected text, got {value!r}")
        return str(value)
    if kind == "enum":
        if value not in spec.choices:
            choices = ", ".join(spec.choices)
            raise _Invalid(
                f"'{value}' is not one of {choices}{did_you_mean(str(value), spec.choices)}"
            )
        return str(value)
    if kind in ("integer", "days"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected a whole number, got {value!r}")
        if kind == "days" and value < 0:
            raise _Invalid("a number of days cannot be negative")
        if spec.bounds is not None and not spec.bounds[0] <= value <= spec.bounds[1]:
            raise _Invalid(f"{spec.name} is from {spec.bounds[0]} to {spec.bounds[1]}")
        return value
    if kind in ("probability", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"expected a number such as 0.6, got {value!r}")
        number = Decimal(str(value)) if isinstance(value, float) else value
        if kind == "probability" and not 0 <= number <= 1:
            raise _Invalid(f"{spec.name} is a probability from 0 to 1 (e.g. 0.6), got {value!r}")
        if number < 0:
            raise _Invalid(f"{spec.name} cannot be negative, got {value!r}")
        return number
    if kind == "poll":
        ordering = operator in ("gt", "gte", "lt", "lte")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or (ordering and not isinstance(value, int))
        ):
            wanted = "a score" if ordering else "a score or an answer's name"
            raise _Invalid(f"expected {wanted}, such as 6, got {value!r}")
        return value
    if kind == "money":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"expected an amount such as 500 or 49.90, got {value!r}")
        return Decimal(str(value)) if isinstance(value, float) else value
    # attributes: text, numbers and true/false; ordering needs a number
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, date):
        value = value.isoformat()
    if operator in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, int | Decimal)
    ):
        raise _Invalid(f"expected a number, got {value!r}")
    if not isinstance(value, str | int | Decimal | bool):
        raise _Invalid(f"expected text, a number, true or false, got {value!r}")
    return value


def _type_name(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | Decimal) else type(value).__name__


def _checked(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError as error:
        raise _Invalid(str(error)) from None


def _parse_top(value: Any) -> TopPercent:
    if not isinstance(value, dict):
        raise _Invalid("write e.g. {percent: 20, by: spent_365d}")
    extra = [key for key in value if key not in ("percent", "by")]
    if extra:
        raise _Invalid(unknown_key_message(extra[0], ["percent", "by"], "top"))
    if "percent" not in value or "by" not in value:
        raise _Invalid("write both percent and by, e.g. {percent: 20, by: spent_365d}")
    percent = _checked(phrases.parse_percent, value["percent"])
    by = value["by"]
    if by not in fields.RANKING_METRICS:
        metrics = ", ".join(fields.RANKING_METRICS)
        raise _Invalid(f"cannot rank by {by!r}{did_you_mean(str(by), metrics)}; rank by {metrics}")
    return TopPercent(percent, str(by))


def _parse_rfm(value: Any) -> RfmScore:
    low, high = SCORE_RANGE
    spec = fields.FieldSpec("rfm", "integer", "")
    operator: Operator
    if isinstance(value, dict) and len(value) == 1:
        operator, operand = next(iter(value.items()))
    elif isinstance(value, dict):
        raise _Invalid("write one operator, e.g. {gte: 12}")
    else:
        operator, operand = ("in", value) if isinstance(value, list) else ("eq", value)
    if operator not in _NUMERIC_OPERATORS:
        ops = ", ".join(_NUMERIC_OPERATORS)
        raise _Invalid(f"unknown operator '{operator}'{did_you_mean(operator, ops)}; use {ops}")
    parsed = _operand(spec, operator, operand)
    numbers = parsed if isinstance(parsed, tuple) else (parsed,)
    if any(not isinstance(n, int) or not low <= n <= high for n in numbers):
        raise _Invalid(f"an RFM score is a whole number from {low} to {high}")
    return RfmScore(operator, parsed if isinstance(parsed, int) else tuple(numbers))  # type: ignore[arg-type]


def _parse_segments(value: Any) -> RfmSegment:
    names = value if isinstance(value, list) else [value]
    if not names:
        raise _Invalid("name at least one segment")
    for name in names:
        if name not in SEGMENTS:
            raise _Invalid(
                f"unknown segment {name!r}{did_you_mean(str(name), list(SEGMENTS))}; "
                f"segments: {', '.join(SEGMENTS)}"
            )
    return RfmSegment(tuple(names))


def _parse_window(key: str, value: Any) -> Condition:
    if not isinstance(value, dict) or "within" not in value:
        raise _Invalid(f"write e.g. {{within: 90 days, gte: 100}} ({key} within a window)")
    window = _checked(phrases.parse_duration, value["within"])
    kind = "money" if key == "spent" else "integer"
    spec = fields.FieldSpec(key, kind, "")  # type: ignore[arg-type]
    comparisons = [(op, operand) for op, operand in value.items() if op != "within"]
    if not comparisons:
        raise _Invalid("add a comparison, e.g. gte: 100")
    result: list[Condition] = []
    for operator, operand in comparisons:
        if operator not in ("eq", "ne", "gt", "gte", "lt", "lte"):
            raise _Invalid(f"unknown operator '{operator}'; use eq, ne, gt, gte, lt or lte")
        number = _scalar(spec, operator, operand)
        assert isinstance(number, int | Decimal)
        result.append(WindowComparison(key, window, operator, number))  # type: ignore[arg-type]
    return result[0] if len(result) == 1 else AllOf(tuple(result))
