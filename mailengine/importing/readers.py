"""Read CSV and JSON Lines files as (line number, row) pairs without loading them whole."""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from mailengine.errors import ImportFileError, SourceLocation

FileFormat = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REASON = "reason"  # the column a rejects file adds; ignored when the file is imported again


@dataclass(frozen=True)
class RawRow:
    """One record of the file: its first line, and either its values or why it is unreadable;
    `original` is the record as written (CSV cells, or a JSON line's text) for a rejects file."""

    line: int
    values: dict[str, Any] | None
    problem: str | None = None
    original: list[str] | str | None = None


def detect_format(path: Path, explicit: str | None) -> FileFormat:
    if explicit in ("csv", "jsonl"):
        return explicit  # type: ignore[return-value]
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"cannot tell the format of '{path.name}': name it .csv or .jsonl, or pass --format"
        )
    return found


def open_text(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise ImportFileError(f"no such file: {path}") from None
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror}") from None


@dataclass
class RowSource:
    """The records of a file, and for CSV its header as written."""

    file_format: FileFormat
    header: list[str]
    rows: Iterator[RawRow]


def read_rows(
    handle: IO[str], file_format: FileFormat, allowed: tuple[str, ...], display: str
) -> RowSource:
    """The file's records; a `reason` column (from a rejects file) is allowed and ignored."""
    if file_format == "csv":
        reader = csv.reader(handle)
        header = _csv_header(reader, allowed, display)
        return RowSource("csv", header, _csv_rows(reader, header))
    return RowSource("jsonl", [], _jsonl_rows(handle, allowed))


def _check_columns(columns: list[str], allowed: tuple[str, ...], display: str, line: int) -> None:
    unknown = [c for c in columns if not _known(c, allowed)]
    if unknown:
        hints = []
        for column in unknown:
            close = difflib.get_close_matches(column, allowed, n=1)
            hints.append(f"'{column}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise ImportFileError(
            f"unknown column {', '.join(hints)}; allowed: {', '.join(allowed)}, attributes.NAME",
            location=SourceLocation(display, line),
        )


def _known(column: str, allowed: tuple[str, ...]) -> bool:
    return column in allowed or column == REASON or column.startswith("attributes.")


def _csv_header(reader: Any, allowed: tuple[str, ...], display: str) -> list[str]:
    try:
        header: list[str] = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty", location=SourceLocation(display, 1)) from None
    except csv.Error as error:
        raise ImportFileError(
            f"unreadable header: {error}", location=SourceLocation(display, 1)
        ) from None
    columns = [name.strip() for name in header]
    if len(set(columns)) != len(columns):
        raise ImportFileError("a column name appears twice", location=SourceLocation(display, 1))
    _check_columns(columns, allowed, display, 1)
    return header


def _csv_rows(reader: Any, header: list[str]) -> Iterator[RawRow]:
    columns = [name.strip() for name in header]
    while True:
        start = reader.line_num + 1
        try:
            record: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield RawRow(start, None, f"unreadable CSV: {error}")
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            problem = f"{len(record)} fields where the header has {len(columns)}"
            yield RawRow(start, None, problem, record)
            continue
        values = dict(zip(columns, record, strict=True))
        values.pop(REASON, None)
        yield RawRow(start, values, None, record)


def _jsonl_rows(handle: IO[str], allowed: tuple[str, ...]) -> Iterator[RawRow]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problem = f"not valid JSON: {error.msg} at column {error.colno}"
            yield RawRow(number, None, problem, line)
            continue
        if not isinstance(value, dict):
            yield RawRow(number, None, "each line must be a JSON object", line)
            continue
        unknown = [k for k in value if not _known(k, allowed)]
        if unknown:
            yield RawRow(number, None, f"unknown field(s): {', '.join(sorted(unknown))}", line)
            continue
        value.pop(REASON, None)
        yield RawRow(number, value, None, line)
