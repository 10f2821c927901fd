"""`mailengine` as its own process on a clock the test moves:

    python -m tests.broadcasts.clocked_mailengine CLOCK_FILE --config ... run

The process's clock says the instant written in CLOCK_FILE (ISO 8601 with an offset) and
stands still until the test writes another one (`move_clock`): a broadcast's send time, its
throttle's minutes, a winner's wait and each time zone's hour come when the test says, and no
date depends on the day the test runs. The file is replaced whole (written aside, renamed),
so a reader never sees half an instant.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from mailengine.cli.main import main
from mailengine.clock import ensure_aware


class FileClock:
    """The instant in `path`, read again whenever the file was replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._now = self._read()

    def now(self) -> datetime:
        return self._read()

    def _read(self) -> datetime:
        found = self.path.stat()
        stamp = (found.st_ino, found.st_mtime_ns)
        if stamp != self._seen:
            self._now = ensure_aware(datetime.fromisoformat(self.path.read_text("ascii").strip()))
            self._seen = stamp
        return self._now


def move_clock(path: Path, moment: datetime) -> None:
    """Set the clock of every process reading `path` to `moment`."""
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    aside.write_text(ensure_aware(moment).isoformat(), encoding="ascii")
    os.replace(aside, path)


if __name__ == "__main__":
    main(sys.argv[2:], clock=FileClock(Path(sys.argv[1])))
