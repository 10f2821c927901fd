"""Read and check an import file into batches of store records, collecting rejected rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mailengine.importing.readers import detect_format, open_text, read_rows
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
    line: int
    reason: str


@dataclass(frozen=True)
class ImportOptions:
    zone: ZoneInfo
    currency: str
    now: datetime
    batch_size: int = 5000
    file_format: str | None = None


@dataclass
class ParsedBatch:
    """Checked rows for the store, rows refused on the way, and how far the file is read."""

    records: list[tuple[int, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    position: int = 0


def parsed_batches(path: Path, kind: ImportKind, options: ImportOptions) -> Iterator[ParsedBatch]:
    """Read and check `path`, yielding batches of at most `options.batch_size` good rows."""
    found_format = detect_format(path, options.file_format)
    allowed = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    with open_text(path) as handle:
        batch = ParsedBatch()
        for raw in read_rows(handle, found_format, allowed, str(path)):
            if raw.values is None:
                batch.rejected.append(Rejection(raw.line, raw.problem or "unreadable"))
                continue
            try:
                record = _parse(raw.values, kind, options)
            except RowRejected as error:
                batch.rejected.append(Rejection(raw.line, str(error)))
                continue
            batch.records.append((raw.line, record))
            if len(batch.records) >= options.batch_size:
                batch.position = _position(handle)
                yield batch
                batch = ParsedBatch()
        batch.position = _position(handle)
        yield batch


def _parse(values: dict[str, Any], kind: ImportKind, options: ImportOptions) -> Any:
    if kind == "customers":
        return customer_from_row(values, options.zone, options.now)
    return order_from_row(values, options.zone, options.currency, options.now)


def _position(handle: Any) -> int:
    try:
        return int(handle.buffer.tell())
    except (AttributeError, OSError, ValueError):
        return 0
