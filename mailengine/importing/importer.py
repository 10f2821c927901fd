"""Import a file of customers or orders: every good row lands, every bad one is reported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from mailengine.importing.batches import (
    GoodRow,
    ImportKind,
    ImportOptions,
    Rejection,
    Repeat,
    parsed_batches,
)
from mailengine.importing.readers import FileFormat, detect_format
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.records import UpsertOutcome

__all__ = ["ImportKind", "ImportOptions", "ImportReport", "Rejection", "Repeat", "import_file"]

ProgressCallback = Callable[[int, int], None]  # (bytes read, rows done)


@dataclass
class ImportReport:
    """What an import did: counts, each rejected row (line, problems, the row as written),
    and the rows that repeat an address or order id of an earlier row."""

    path: str
    file_format: FileFormat
    header: list[str] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    repeats: list[Repeat] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def import_file(
    database: Database,
    path: Path,
    kind: ImportKind,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Upsert the rows of `path` in batches; a failing batch is retried row by row."""
    found_format = detect_format(path, options.file_format)  # fail early: a file we cannot read
    report = ImportReport(path=str(path), file_format=found_format)
    done = 0
    for batch in parsed_batches(path, kind, options):
        report.header = batch.header
        report.rejected.extend(batch.rejected)
        report.repeats.extend(batch.repeats)
        if batch.records:
            _write(database, kind, batch.records, options.now, report)
            done += len(batch.records)
        if progress is not None:
            progress(batch.position, done)
    report.rejected.sort(key=lambda rejection: rejection.line)
    return report


def _upsert(
    session: Session, kind: ImportKind, records: Sequence[Any], now: datetime
) -> UpsertOutcome:
    if kind == "customers":
        return upsert_customers(session, records, now)
    return upsert_orders(session, records, now)


def _write(
    database: Database,
    kind: ImportKind,
    batch: list[GoodRow],
    now: datetime,
    report: ImportReport,
) -> None:
    try:
        with database.transaction() as session:
            outcome = _upsert(session, kind, [row.record for row in batch], now)
    except (IntegrityError, DBAPIError):
        # Something in this batch upset the database: find it row by row, keep the rest.
        for row in batch:
            try:
                with database.transaction() as session:
                    single = _upsert(session, kind, [row.record], now)
            except (IntegrityError, DBAPIError) as error:
                reason = str(error.orig).splitlines()[0] if error.orig else str(error)
                problem = f"the database refused the row: {reason}"
                report.rejected.append(Rejection(row.line, (problem,), row.original))
                continue
            report.inserted += single.inserted
            report.updated += single.updated
        return
    report.inserted += outcome.inserted
    report.updated += outcome.updated
