"""Another process asking for SQLite's write turn (as an HTTP worker or a dispatcher does),
for tests of how the turn is shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WAITER = """
import sys, time
from pathlib import Path
from mailengine.store import write_turn
if sys.argv[2] == "announce":
    write_turn.announce_waits()
turn = write_turn.WriteTurn(Path(sys.argv[1]), 10.0)
print("asking", flush=True)
with turn():
    time.sleep(float(sys.argv[3]))
"""


def waiter(database: Path, announce: bool, hold_seconds: float = 0.0) -> subprocess.Popen[str]:
    """A process asking for the turn of `database` (announcing its wait, as HTTP workers do,
    or not), which holds it `hold_seconds` once it has it; returned once it asks."""
    how = "announce" if announce else "quiet"
    process = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(database), how, str(hold_seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "asking\n"
    return process
