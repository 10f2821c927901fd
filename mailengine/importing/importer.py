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
    ImportKind,
    ImportOptions,
    Rejection,
    parsed_batches,
)
from mailengine.importing.readers import detect_format
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.orders import upsert_orders
from mailengine.store.records import UpsertOutcome

__all__ = ["ImportKind", "ImportOptions", "ImportReport", "Rejection", "import_file"]

ProgressCallback = Callable[[int, int], None]  # (bytes read, rows done)


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


def import_file(
    database: Database,
    path: Path,
    kind: ImportKind,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Upsert the rows of `path` in batches; a failing batch is retried row by row."""
    detect_format(path, options.file_format)  # fail early on a file we cannot read
    report = ImportReport(path=str(path))
    done = 0
    for batch in parsed_batches(path, kind, options):
        report.rejected.extend(batch.rejected)
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
