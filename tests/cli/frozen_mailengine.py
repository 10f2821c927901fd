"""`mailengine` at a fixed moment, for tests that run it as its own process:
`python -m tests.cli.frozen_mailengine 2026-11-23T09:00:00+00:00 --config ... report`."""

from __future__ import annotations

import sys
from datetime import datetime

from mailengine.cli.main import main
from mailengine.clock import FrozenClock

if __name__ == "__main__":
    main(sys.argv[2:], clock=FrozenClock(datetime.fromisoformat(sys.argv[1])))
