"""Read and check an import file into batches of store records, collecting rejected rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mailengine.importing.readers import FileFormat, detect_format, open_text, read_rows
from mailengine.importing.rows import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    customer_from_row,
    order_from_row,
)
from mailengine.importing.values import RowRejected

ImportKind = Literal["customers", "orders"]


@dataclass(frozen=True)
class Rejection:
    """A row left out: every problem found in it, and the row as written."""

    line: int
    problems: tuple[str, ...]
    original: list[str] | str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


@dataclass(frozen=True)
class Repeat:
    """A row whose address (customers) or order id (orders) an earlier row of the file had:
    both are imported, in order, so the later row wins."""

    line: int
    first_line: int
    column: str
    value: str


@dataclass(frozen=True)
class ImportOptions:
    zone: ZoneInfo
    currency: str
    now: datetime
    batch_size: int = 5000
    file_format: str | None = None


@dataclass(frozen=True)
class GoodRow:
    line: int
    record: Any
    original: list[str] | str | None


@dataclass
class ParsedBatch:
    """Checked rows for the store, rows refused on the way, and how far the file is read."""

    file_format: FileFormat
    header: list[str]
    records: list[GoodRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    repeats: list[Repeat] = field(default_factory=list)
    position: int = 0


def parsed_batches(path: Path, kind: ImportKind, options: ImportOptions) -> Iterator[ParsedBatch]:
    """Read and check `path`, yielding batches of at most `options.batch_size` good rows."""
    found_format = detect_format(path, options.file_format)
    allowed = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    seen: dict[str, int] = {}  # address or order id -> the line that first had it
    with open_text(path) as handle:
        source = read_rows(handle, found_format, allowed, str(path))
        batch = ParsedBatch(source.file_format, source.header)
        for raw in source.rows:
            if raw.values is None:
                problem = raw.problem or "unreadable"
                batch.rejected.append(Rejection(raw.line, (problem,), raw.original))
                continue
            try:
                record = _parse(raw.values, kind, options)
            except RowRejected as error:
                batch.rejected.append(Rejection(raw.line, error.problems, raw.original))
                continue
            _note_repeat(record, kind, raw.line, seen, batch)
            batch.records.append(GoodRow(raw.line, record, raw.original))
            if len(batch.records) >= options.batch_size:
                batch.position = _position(handle)
                yield batch
                batch = ParsedBatch(source.file_format, source.header)
        batch.position = _position(handle)
        yield batch


def _note_repeat(
    record: Any, kind: ImportKind, line: int, seen: dict[str, int], batch: ParsedBatch
) -> None:
    column, key = (
        ("email", record.email) if kind == "customers" else ("external_id", record.external_id)
    )
    first = seen.setdefault(key, line)
    if first != line:
        batch.repeats.append(Repeat(line, first, column, key))


def _parse(values: dict[str, Any], kind: ImportKind, options: ImportOptions) -> Any:
    if kind == "customers":
        return customer_from_row(values, options.zone, options.now)
    return order_from_row(values, options.zone, options.currency, options.now)


def _position(handle: Any) -> int:
    try:
        return int(handle.buffer.tell())
    except (AttributeError, OSError, ValueError):
        return 0
