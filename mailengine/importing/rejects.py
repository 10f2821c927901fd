"""The rejects file of an import: the refused rows as written, each with a `reason`.

It has the input's format and columns plus `reason` (CSV: a last column; JSON Lines: a
key), so it can be fixed and imported again as it is: the importer ignores `reason`. A row
that could not be read as a record at all (a JSON line that is no object) is kept whole as
`original`, to be rewritten.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from mailengine.importing.batches import Rejection
from mailengine.importing.readers import REASON, FileFormat


def write_rejects(
    path: Path, file_format: FileFormat, header: Sequence[str], rejected: Sequence[Rejection]
) -> None:
    """Write `rejected` to `path` (replacing it), in the format of the imported file."""
    # surrogateescape writes back undecodable bytes of the input exactly as they were
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        if file_format == "csv":
            writer = csv.writer(handle, lineterminator="\n")
            columns = [name.strip() for name in header]
            added = REASON not in columns
            writer.writerow([*header, REASON] if added else header)
            for rejection in rejected:
                writer.writerow(_csv_row(rejection, columns, added))
        else:
            for rejection in rejected:
                handle.write(_json_line(rejection) + "\n")


def _csv_row(rejection: Rejection, columns: list[str], added: bool) -> list[str]:
    cells = list(rejection.original) if isinstance(rejection.original, list) else []
    if len(cells) > len(columns):  # too many fields: keep them all, the reason after
        return [*cells, rejection.reason]
    cells += [""] * (len(columns) - len(cells))
    if added:
        return [*cells, rejection.reason]
    cells[columns.index(REASON)] = rejection.reason
    return cells


def _json_line(rejection: Rejection) -> str:
    text = rejection.original if isinstance(rejection.original, str) else ""
    text = text.rstrip("\r\n")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        return json.dumps({REASON: rejection.reason, "original": text}, ensure_ascii=False)
    if REASON in value or not value:
        value[REASON] = rejection.reason
        return json.dumps(value, ensure_ascii=False)
    # The object as written (its numbers, spacing, key order), with the reason added last.
    body = text.rstrip()[:-1].rstrip()
    reason = json.dumps(rejection.reason, ensure_ascii=False)
    return f'{body}, "{REASON}": {reason}}}'
