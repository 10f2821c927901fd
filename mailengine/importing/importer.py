"""Import a file of customers or orders: every good row lands, every bad one is reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from mailengine.importing.readers import detect_format, open_text, read_rows
from mailengine.importing.rows import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    customer_from_row,
    order_from_row,
)
from mailengine.importing.values import RowRejected
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.records import UpsertOutcome

ImportKind = Literal["customers", "orders"]
ProgressCallback = Callable[[int, int], None]  # (bytes read, rows done)


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: counts, and each rejected row with its line number and reason."""

    path: str
    inserted: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass(frozen=True)
class ImportOptions:
    zone: ZoneInfo
    currency: str
    now: datetime
    batch_size: int = 5000
    file_format: str | None = None


def import_file(
    database: Database,
    path: Path,
    kind: ImportKind,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Upsert the rows of `path` in batches; a failing batch is retried row by row."""
    file_format = detect_format(path, options.file_format)
    report = ImportReport(path=str(path))
    done = 0
    for batch in parsed_batches(path, kind, options, file_format):
        report.rejected.extend(batch.rejected)
        if batch.records:
            _write(database, kind, batch.records, options.now, report)
            done += len(batch.records)
        if progress is not None:
            progress(batch.position, done)
    report.rejected.sort(key=lambda rejection: rejection.line)
    return report


@dataclass
class ParsedBatch:
    """Checked rows for the store, rows refused on the way, and how far the file is read."""

    records: list[tuple[int, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    position: int = 0


def parsed_batches(
    path: Path, kind: ImportKind, options: ImportOptions, file_format: str | None = None
) -> Iterator[ParsedBatch]:
    """Read and check `path`, yielding batches of at most `options.batch_size` good rows."""
    found_format = detect_format(path, file_format or options.file_format)
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


def _upsert(
    session: Session, kind: ImportKind, records: Sequence[Any], now: datetime
) -> UpsertOutcome:
    if kind == "customers":
        return upsert_customers(session, records, now)
    return upsert_orders(session, records, now)


def _write(
    database: Database,
    kind: ImportKind,
    batch: list[tuple[int, Any]],
    now: datetime,
    report: ImportReport,
) -> None:
    try:
        with database.transaction() as session:
            outcome = _upsert(session, kind, [record for _, record in batch], now)
    except (IntegrityError, DBAPIError):
        # Something in this batch upset the database: find it row by row, keep the rest.
        for line, record in batch:
            try:
                with database.transaction() as session:
                    single = _upsert(session, kind, [record], now)
            except (IntegrityError, DBAPIError) as error:
                reason = str(error.orig).splitlines()[0] if error.orig else str(error)
                report.rejected.append(Rejection(line, f"the database refused the row: {reason}"))
                continue
            report.inserted += single.inserted
            report.updated += single.updated
        return
    report.inserted += outcome.inserted
    report.updated += outcome.updated


def _position(handle: Any) -> int:
    try:
        return int(handle.buffer.tell())
    except (AttributeError, OSError, ValueError):
        return 0
