"""SQL constructs that differ by dialect: free-form JSON attributes, the month-day of a time,
a time moved by a span, the time slot a moment falls in, the head of a text, and a column
matched against many values.

Each compiles to equivalent SQL on SQLite and PostgreSQL, so an audience gives the same
customers on both. An attribute read as a number is a JSON number or a text holding one
(`"42"`, `-1.5`); any other value reads as NULL instead of failing the whole query, as a bare
cast would on PostgreSQL. Attribute keys are checked by the loader and always sent as bound
parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    Numeric,
    String,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType


def one_of(column: ColumnElement[str], values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL `= ANY(array)`: one parameter, so the statement's
    text stays the same whatever the count (SQLAlchemy renders, and psycopg parses, one
    placeholder per value of an IN list: milliseconds for a thousand). The array is sent as
    a JSON list the server unpacks: psycopg escapes a text array's elements one by one in
    Python (2 ms of client CPU for a thousand addresses, half that as JSON)."""
    if dialect == "postgresql":
        listed = cast(bindparam(None, json.dumps(list(values)), type_=String()), JSONB)
        unpacked = select(func.jsonb_array_elements_text(listed)).scalar_subquery()
        return column == any_(func.array(unpacked))
    return column.in_(values)


def one_of_ids(
    column: ColumnElement[int], values: Sequence[int], dialect: str
) -> ColumnElement[bool]:
    """`one_of` for integer ids."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(Integer())))
    return column.in_(values)


_NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


class _Attribute(FunctionElement[Any]):
    """`attributes -> key` read as one type; clauses: column, SQLite path, PostgreSQL key."""

    inherit_cache = True  # the key travels as bound parameters, so one compile serves all

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        super().__init__(
            column,
            bindparam(None, f"$.{key}", type_=String()),
            bindparam(None, key, type_=String()),
        )


class AttributeText(_Attribute):
    """Text or number attributes as text; other JSON types as NULL."""

    type = String()
    name = "attribute_text"
    inherit_cache = True


class AttributeNumber(_Attribute):
    """Number attributes, and text attributes that hold a number, as a number."""

    type = Numeric()
    name = "attribute_number"
    inherit_cache = True


class AttributeBoolean(_Attribute):
    """true/false attributes; other JSON types as NULL."""

    type = Boolean()
    name = "attribute_boolean"
    inherit_cache = True


class AttributePresent(_Attribute):
    """True when the key exists with a value other than JSON null."""

    type = Boolean()
    name = "attribute_present"
    inherit_cache = True


class MonthDay(FunctionElement[int]):
    """month * 100 + day of a UTC timestamp column (for yearly anniversaries)."""

    type = Integer()
    name = "month_day"
    inherit_cache = True


def _parts(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(AttributeText, "sqlite")
def _text_sqlite(element: AttributeText, compiler: SQLCompiler, **kw: Any) -> str:
    column, path, _ = _parts(element, compiler, **kw)
    return (
        f"CASE WHEN json_type({column}, {path}) IN ('text', 'integer', 'real') "
        f"THEN CAST(json_extract({column}, {path}) AS TEXT) END"
    )


@compiles(AttributeText, "postgresql")
def _text_postgresql(element: AttributeText, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, key = _parts(element, compiler, **kw)
    return (
        f"CASE WHEN jsonb_typeof({column} -> {key}) IN ('string', 'number') "
        f"THEN {column} ->> {key} END"
    )


@compiles(AttributeNumber, "sqlite")
def _number_sqlite(element: AttributeNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column, path, _ = _parts(element, compiler, **kw)
    value = f"json_extract({column}, {path})"
    # GLOB has no optional parts: these four tests together mean ^-?[0-9]+(\.[0-9]+)?$
    looks_numeric = (
        f"(({value} GLOB '[0-9]*' OR {value} GLOB '-[0-9]*') "
        f"AND substr({value}, 2) NOT GLOB '*[^0-9.]*' "
        f"AND {value} NOT GLOB '*.*.*' AND {value} NOT GLOB '*.' "
        f"AND {value} NOT GLOB '*-.*')"
    )
    return (
        f"CASE json_type({column}, {path}) WHEN 'integer' THEN {value} WHEN 'real' THEN {value} "
        f"WHEN 'text' THEN CASE WHEN {looks_numeric} THEN CAST({value} AS NUMERIC) END END"
    )


@compiles(AttributeNumber, "postgresql")
def _number_postgresql(element: AttributeNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, key = _parts(element, compiler, **kw)
    text = f"({column} ->> {key})"
    return (
        f"CASE jsonb_typeof({column} -> {key}) WHEN 'number' THEN CAST({text} AS NUMERIC) "
        f"WHEN 'string' THEN CASE WHEN {text} ~ '{_NUMBER_PATTERN}' "
        f"THEN CAST({text} AS NUMERIC) END END"
    )


@compiles(AttributeBoolean, "sqlite")
def _boolean_sqlite(element: AttributeBoolean, compiler: SQLCompiler, **kw: Any) -> str:
    column, path, _ = _parts(element, compiler, **kw)
    return f"CASE json_type({column}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"


@compiles(AttributeBoolean, "postgresql")
def _boolean_postgresql(element: AttributeBoolean, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, key = _parts(element, compiler, **kw)
    return (
        f"CASE WHEN jsonb_typeof({column} -> {key}) = 'boolean' "
        f"THEN CAST({column} ->> {key} AS BOOLEAN) END"
    )


@compiles(AttributePresent, "sqlite")
def _present_sqlite(element: AttributePresent, compiler: SQLCompiler, **kw: Any) -> str:
    column, path, _ = _parts(element, compiler, **kw)
    return f"(coalesce(json_type({column}, {path}), 'null') != 'null')"


@compiles(AttributePresent, "postgresql")
def _present_postgresql(element: AttributePresent, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, key = _parts(element, compiler, **kw)
    return f"(coalesce(jsonb_typeof({column} -> {key}), 'null') != 'null')"


@compiles(MonthDay, "sqlite")
def _month_day_sqlite(element: MonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    return f"CAST(strftime('%m%d', {column}) AS INTEGER)"


@compiles(MonthDay, "postgresql")
def _month_day_postgresql(element: MonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    utc = f"({column} AT TIME ZONE 'UTC')"
    return f"CAST(EXTRACT(MONTH FROM {utc}) * 100 + EXTRACT(DAY FROM {utc}) AS INTEGER)"


class _TimeAndSeconds(FunctionElement[Any]):
    """A UTCDateTime column and a whole number of seconds (sent as a bound parameter)."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], seconds: int) -> None:
        super().__init__(column, bindparam(None, seconds, type_=Integer()))


class ShiftedTime(_TimeAndSeconds):
    """The column plus the seconds, compared like the column itself: on SQLite the same
    26-character UTC text (the microseconds copied over), on PostgreSQL a timestamptz."""

    name = "shifted_time"
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], seconds: int) -> None:
        super().__init__(column, seconds)
        self.type = column.type


class TimeSlot(_TimeAndSeconds):
    """Which slot of that many seconds since the Unix epoch the column falls in."""

    type = BigInteger()
    name = "time_slot"
    inherit_cache = True


class TextHead(FunctionElement[str]):
    """A text up to its first colon ("contact pressure: 3 in 7 days" -> "contact pressure");
    the whole text when it has none."""

    type = String()
    name = "text_head"
    inherit_cache = True


@compiles(ShiftedTime, "sqlite")
def _shifted_sqlite(element: ShiftedTime, compiler: SQLCompiler, **kw: Any) -> str:
    column, seconds = _parts(element, compiler, **kw)
    moved = f"strftime('%Y-%m-%d %H:%M:%S', {column}, '+' || {seconds} || ' seconds')"
    return f"({moved} || substr({column}, 20))"


@compiles(ShiftedTime, "postgresql")
def _shifted_postgresql(element: ShiftedTime, compiler: SQLCompiler, **kw: Any) -> str:
    column, seconds = _parts(element, compiler, **kw)
    return f"({column} + {seconds} * INTERVAL '1 second')"


@compiles(TimeSlot, "sqlite")
def _slot_sqlite(element: TimeSlot, compiler: SQLCompiler, **kw: Any) -> str:
    column, seconds = _parts(element, compiler, **kw)
    return f"(CAST(strftime('%s', {column}) AS INTEGER) / {seconds})"


@compiles(TimeSlot, "postgresql")
def _slot_postgresql(element: TimeSlot, compiler: SQLCompiler, **kw: Any) -> str:
    column, seconds = _parts(element, compiler, **kw)
    return f"CAST(floor(EXTRACT(EPOCH FROM {column}) / {seconds}) AS BIGINT)"


@compiles(TextHead, "sqlite")
def _head_sqlite(element: TextHead, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    return (
        f"CASE WHEN instr({column}, ':') > 0 "
        f"THEN substr({column}, 1, instr({column}, ':') - 1) ELSE {column} END"
    )


@compiles(TextHead, "postgresql")
def _head_postgresql(element: TextHead, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    return f"split_part({column}, ':', 1)"


class Unindexed(ColumnElement[Any]):
    """A column SQLite must not pick an index for: `+column` there, the plain column elsewhere.

    Audiences are broad (a tenth to most of the customers): SQLite reads 1M customers in
    ~0.25 s by a scan but needs 1.5-2 s when it walks a consent or date index and fetches each
    row. PostgreSQL's planner weighs both itself. Point lookups (ids, birthday_md) stay indexed.
    """

    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's protocol)
        ("column", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _unindexed_default(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)
