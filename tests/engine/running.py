"""An engine served the way `mailengine run` serves it (`Engine.run` until a stop event),
inside the test's event loop, and waits on conditions with generous deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mailengine.config import Settings
from mailengine.engine.service import Engine
from tests.engine.harness import REPO

DEADLINE_SECONDS = 60.0


def engine_settings(var: Path, workflows: Path = REPO / "workflows", **engine: Any) -> Settings:
    return Settings.model_validate(
        {
            "paths": {
                "workflows": str(workflows),
                "templates": str(REPO / "templates"),
                "polls": str(REPO / "polls"),
                "questionnaires": str(REPO / "questionnaires"),
                "var": str(var),
            },
            "engine": {"tick_seconds": 0.1, **engine},
        }
    )


async def eventually(
    condition: Callable[[], bool], what: str, deadline: float = DEADLINE_SECONDS
) -> None:
    """Wait until `condition()` holds; fail naming `what` after `deadline` seconds."""
    ends = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError(f"waited {deadline:.0f} s for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(engine: Engine) -> AsyncIterator[Engine]:
    """The engine runs inside the block (its schedules started) and is stopped after it,
    whatever happened inside."""
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop), name="engine")
    try:
        await eventually(lambda: engine.scheduler_running or task.done(), "the engine to start")
        if task.done():
            task.result()  # start-up failed: say why
        yield engine
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_SECONDS)
