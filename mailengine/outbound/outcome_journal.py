"""Outcomes of sent messages kept in a file of the dispatcher's own until the database has them.

On SQLite an SMTP worker waited for its outcome's commit before it took its next message (so
that a crash could send again at most one message a connection), and that commit waited for
the database's one write turn behind the API's group commits and the engine's rounds: under
500 orders/s a worker spent as long waiting for commits as sending. Now the outcome is first
appended to a journal (one `write` to a file beside the database, which a killed process's
kernel still completes; like SQLite's commits with `synchronous=NORMAL`, not synced to the
disk), the worker goes on, and the outcomes are stored in groups as the write turn comes.
Until it is stored, the message stays claimed (and its claim renewed) by its dispatcher;
should that dispatcher die, whoever hands its claims back on this host first stores the
outcomes its journal holds (storing one twice changes nothing: an outcome is stored only on
a row its dispatcher still holds). A line cut short by a crash is skipped: its message comes
back as any in flight does.

One file per dispatcher, `<database>-outcomes/<digest of its identity>.jsonl`, whose first
line names the dispatcher, and removed once a dead dispatcher's outcomes are stored. After a
group is stored, a line `{"stored": N}` says that the first N outcome lines are in the database
(groups are stored in the order their outcomes came, so what is stored is always the first
lines): one `write`, where writing the file anew under another name and renaming it after
every group (open, write, rename, close) cost the sending loop some 0.05 ms of CPU a message.
Once the file has grown past `COMPACT_BYTES` it is emptied (nothing left to store) or written
anew with only the outcomes not stored. A reader takes the outcomes after the last mark's N.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mailengine.store.records import SendOutcome

log = logging.getLogger(__name__)

Recorded = tuple[SendOutcome, str | None]  # an outcome, and an address to suppress
FOLDER_SUFFIX = "-outcomes"
COMPACT_BYTES = 256 * 1024
"""A journal this long is written anew with only its outcomes not stored yet."""
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one for all lines (`dumps` makes one each)


def journal_folder(sqlite_file: str | None) -> Path | None:
    """The journals' folder of a SQLite file; None without a file (in memory, PostgreSQL)."""
    if not sqlite_file or sqlite_file == ":memory:":
        return None
    path = Path(sqlite_file).resolve()
    return path.with_name(path.name + FOLDER_SUFFIX)


@dataclass(frozen=True)
class Journaled:
    """The outcomes a dispatcher's journal holds, and when each was had."""

    path: Path
    worker: str
    items: list[tuple[Recorded, datetime]]


class OutcomeJournal:
    """The journal of one dispatcher (`worker`, the holder of its claims)."""

    def __init__(self, folder: Path, worker: str) -> None:
        self.folder = folder
        self.worker = worker
        self.path = folder / f"{_digest(worker)}.jsonl"
        self._descriptor: int | None = None
        self._lines = 0  # outcome lines in the file
        self._unstored: deque[int] = deque()  # the outbox ids of the lines not marked stored
        self._size = 0  # bytes in the file

    def leftovers(self) -> list[tuple[Recorded, datetime]]:
        """What an earlier journal of this dispatcher kept and did not see stored (its
        flow stopped while the database could not be written): to be stored first."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return []
        header, _, body = text.partition(b"\n")
        if header + b"\n" != _header(self.worker):
            return []
        return _unstored_lines(body.splitlines())

    def append(self, items: Sequence[Recorded], at: datetime) -> None:
        """Keep these outcomes (had at `at`) in the file: one write, done when it returns."""
        if self._descriptor is None:
            self._open(self.leftovers())
        assert self._descriptor is not None
        data = b"".join(_line(item, at) for item in items)
        _write_all(self._descriptor, data)
        self._lines += len(items)
        self._unstored.extend(outcome.outbox_id for outcome, _ in items)
        self._size += len(data)

    def keep_only(self, items: Sequence[tuple[Recorded, datetime]]) -> None:
        """The database has every outcome but these (the last lines kept): marked in the file,
        or the file written anew with them."""
        if self._descriptor is None:  # nothing appended yet: the file holds leftovers only
            if items or self.path.exists():
                self._open(items)
            return
        stored = len(self._unstored) - len(items)
        if stored < 0 or any(
            self._unstored[stored + n] != outcome.outbox_id
            for n, ((outcome, _), _) in enumerate(items)
        ):
            self._open(items)  # not the last lines: never so when groups are stored in order
        elif not items and self._size > COMPACT_BYTES:
            os.ftruncate(self._descriptor, len(_header(self.worker)))
            self._reset(len(_header(self.worker)))
        elif self._size > COMPACT_BYTES:
            self._open(items)
        elif stored:
            mark = b'{"stored":%d}\n' % (self._lines - len(items))
            _write_all(self._descriptor, mark)
            self._size += len(mark)
            for _ in range(stored):
                self._unstored.popleft()

    def close(self) -> None:
        """Close the file; it is removed when it holds nothing more to store."""
        if self._descriptor is None:
            return
        os.close(self._descriptor)
        self._descriptor = None
        if not self._unstored:
            self.path.unlink(missing_ok=True)

    def _open(self, items: Sequence[tuple[Recorded, datetime]]) -> None:
        """Write the file anew (the header, then `items`) under another name and rename it:
        a crash leaves the old file or the new one whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_suffix(".new")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            data = _header(self.worker) + b"".join(_line(item, at) for item, at in items)
            _write_all(descriptor, data)
            os.replace(fresh, self.path)
        except BaseException:
            os.close(descriptor)
            raise
        if self._descriptor is not None:
            os.close(self._descriptor)
        self._descriptor = descriptor
        self._reset(len(data))
        self._lines = len(items)
        self._unstored.extend(outcome.outbox_id for (outcome, _), _ in items)

    def _reset(self, size: int) -> None:
        self._lines = 0
        self._unstored.clear()
        self._size = size


def journals(folder: Path | None) -> list[Journaled]:
    """Every dispatcher's journal in `folder` that names its dispatcher."""
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        try:
            text = path.read_bytes()
        except OSError:
            continue
        header, _, body = text.partition(b"\n")
        try:
            worker = str(json.loads(header)["worker"])
        except (ValueError, KeyError, TypeError):
            log.warning("outcome journal %s names no dispatcher; left alone", path)
            continue
        found.append(Journaled(path, worker, _unstored_lines(body.splitlines())))
    return found


def _unstored_lines(lines: Iterable[bytes]) -> list[tuple[Recorded, datetime]]:
    """The outcomes after the last `{"stored": N}` mark's first N (all of them without one)."""
    found: list[tuple[Recorded, datetime]] = []
    stored = 0
    for line in lines:
        try:
            value: dict[str, Any] = json.loads(line)
            if "stored" in value:
                stored = max(stored, int(value["stored"]))
                continue
            next_attempt = value["next"]
            outcome = SendOutcome(
                int(value["id"]),
                str(value["state"]),
                value["code"],
                value["reply"],
                datetime.fromisoformat(next_attempt) if next_attempt else None,
            )
            found.append(((outcome, value["address"]), datetime.fromisoformat(value["at"])))
        except (ValueError, KeyError, TypeError):
            continue  # cut short by a crash: its message comes back as one in flight does
    return found[stored:]


def _line(item: Recorded, at: datetime) -> bytes:
    outcome, address = item
    next_attempt = outcome.next_attempt_at
    value = {
        "id": outcome.outbox_id,
        "state": outcome.state,
        "code": outcome.code,
        "reply": outcome.reply,
        "next": next_attempt.isoformat() if next_attempt is not None else None,
        "address": address,
        "at": at.isoformat(),
    }
    return _ENCODER.encode(value).encode() + b"\n"


def _header(worker: str) -> bytes:
    return json.dumps({"worker": worker}).encode() + b"\n"


def _digest(worker: str) -> str:
    return hashlib.sha256(worker.encode()).hexdigest()[:24]


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
