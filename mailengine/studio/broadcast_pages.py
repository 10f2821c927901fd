"""The Broadcasts pages: every broadcast with where it stands and its mail so far, and one
broadcast as `mailengine broadcast show` and `report` tell it, with Schedule (or Send now,
once its time has passed), Pause, Resume and Cancel.

Everyone with a studio role may read them; scheduling, pausing, resuming and cancelling are
for admins and marketers (a form post each, CSRF-checked, answered with a redirect to the
page). Scheduling goes through the same checks as `mailengine broadcast schedule`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailengine.broadcasts.loader import load_broadcasts
from mailengine.broadcasts.timing import timing
from mailengine.engine.broadcast_scheduling import schedule_file
from mailengine.intervals import DEFAULT_CONFIDENCE
from mailengine.store import broadcast_runs as runs
from mailengine.studio.access import StudioUser, require_role
from mailengine.studio.broadcast_view import BroadcastPage, broadcast_page, find_known, list_rows
from mailengine.studio.charts import Chart, Series, line_chart
from mailengine.studio.context import studio_context
from mailengine.studio.number_format import NumberFormat
from mailengine.studio.page_input import problem_page
from mailengine.studio.rendering import render_page
from mailengine.studio.report_pages import ChartView

router = APIRouter(include_in_schema=False)
READERS = require_role("admin", "marketer", "support")
STEERING = require_role("admin", "marketer")
LIST_PATH = "/studio/broadcasts"
DONE_WORDS = {
    "scheduled": "Scheduled as its file is now: the engine plans it five minutes before it goes.",
    "paused": "Paused: planning stopped and {n} message(s) that had not left are held.",
    "resumed": "Resumed: {n} held message(s) are released and planning goes on.",
    "cancelled": "Cancelled for good: {n} message(s) that had not left are dropped.",
}


@router.get(LIST_PATH)
def broadcasts_page(request: Request, user: Annotated[StudioUser, Depends(READERS)]) -> Response:
    context = studio_context(request)
    with context.database.session() as session:
        rows, problems = list_rows(context, session)
    return render_page(
        request,
        "broadcasts.html",
        rows=rows,
        problems=problems,
        numbers=_numbers(request),
        folder=_shown(context.settings.paths.broadcasts),
    )


@router.get(LIST_PATH + "/{name}")
def broadcast_detail_page(
    request: Request,
    name: str,
    user: Annotated[StudioUser, Depends(READERS)],
    done: str | None = None,
    n: int = 0,
) -> Response:
    context = studio_context(request)
    numbers = _numbers(request)
    with context.database.session() as session:
        known = find_known(context, session, name)
        if known is None:
            return _missing(request, name)
        page = broadcast_page(context, session, known, numbers)
    return render_page(
        request,
        "broadcast.html",
        page=page,
        numbers=numbers,
        series_chart=_chart(page),
        may_steer=user.role in ("admin", "marketer"),
        send_time_passed=known.file is not None
        and timing(known.file, context.settings.zone, context.clock.now(), False).passed,
        done=DONE_WORDS[done].format(n=n) if done in DONE_WORDS else None,
        confidence=DEFAULT_CONFIDENCE,
    )


@router.post(LIST_PATH + "/{name}/schedule")
def schedule(
    request: Request,
    name: str,
    user: Annotated[StudioUser, Depends(STEERING)],
    at_once: Annotated[str, Form()] = "",
) -> Response:
    """Schedule the broadcast's file as it is now, as `mailengine broadcast schedule [--now]`."""
    context = studio_context(request)
    folder = context.settings.paths.broadcasts
    found = load_broadcasts([folder], folder.parent).broadcasts.get(name)
    if found is None:
        return _missing(request, name)
    source = (folder.parent / found.path).read_text(encoding="utf-8")
    done = schedule_file(
        context.settings, context.database, found, context.clock.now(),
        source=source, at_once=at_once == "1", by=user.email,
    )  # fmt: skip
    back = (f"{LIST_PATH}/{name}", f"Back to {name}")
    if not done.check.ok:
        problems = [str(problem) for problem in done.check.all_problems()]
        return problem_page(
            request, 422, f"{name} is not scheduled",
            "Fix these problems in its file or templates first:", back, problems,
        )  # fmt: skip
    if done.when is not None and done.when.passed:
        passed = done.when.passed_words(context.settings.zone)
        return problem_page(
            request, 409, f"{name} is not scheduled",
            f"Its {passed}. Set a new send_at in its file, or use Send now.", back,
        )  # fmt: skip
    if done.stored is not None and done.stored.outcome == "refused":
        return problem_page(request, 409, f"{name} is not scheduled", done.stored.reason, back)
    return RedirectResponse(f"{LIST_PATH}/{name}?done=scheduled", 303)


@router.post(LIST_PATH + "/{name}/pause")
def pause(request: Request, name: str, user: Annotated[StudioUser, Depends(STEERING)]) -> Response:
    return _steer(request, name, "paused")


@router.post(LIST_PATH + "/{name}/resume")
def resume(request: Request, name: str, user: Annotated[StudioUser, Depends(STEERING)]) -> Response:
    return _steer(request, name, "resumed")


@router.post(LIST_PATH + "/{name}/cancel")
def cancel(request: Request, name: str, user: Annotated[StudioUser, Depends(STEERING)]) -> Response:
    return _steer(request, name, "cancelled")


def _steer(request: Request, name: str, done: str) -> Response:
    """Pause, resume or cancel, as `mailengine broadcast pause|resume|cancel` does."""
    context = studio_context(request)
    now = context.clock.now()
    with context.database.transaction() as session:
        known = find_known(context, session, name)
        if known is None or known.run is None:
            return _missing(request, name)
        if done == "paused":
            moved = runs.pause(session, name, now)
        elif done == "resumed":
            throttled = known.broadcast is not None and known.broadcast.throttle is not None
            moved = runs.resume(session, name, now, shift=throttled)
        else:
            moved = runs.cancel(session, name, now)
    if not moved.applied:
        return problem_page(
            request,
            409,
            "Nothing was changed",
            f"{moved.reason}.",
            (f"{LIST_PATH}/{name}", f"Back to {name}"),
        )
    return RedirectResponse(f"{LIST_PATH}/{name}?done={done}&n={moved.messages}", 303)


def _chart(page: BroadcastPage) -> ChartView | None:
    """Sent, opened and clicked per hour (or day) since the first send."""
    if not page.series:
        return None
    shape = "%m-%d %H:%M" if page.bucket == "hour" else "%Y-%m-%d"
    labels = [point.start.strftime(shape) for point in page.series]
    chart = Chart(
        "broadcast-series",
        f"Sent, opened and clicked per {page.bucket}",
        labels,
        [
            Series("sent", [point.sent for point in page.series]),
            Series("opened", [point.opened for point in page.series]),
            Series("clicked", [point.clicked for point in page.series]),
        ],
    )
    return ChartView(chart, line_chart(chart))


def _missing(request: Request, name: str) -> Response:
    context = studio_context(request)
    return problem_page(
        request,
        404,
        f"No broadcast named {name}",
        f"Neither {context.settings.paths.broadcasts} nor the scheduled broadcasts have '{name}'.",
        (LIST_PATH, "All broadcasts"),
    )


def _shown(folder: Path) -> str:
    """The folder as its people name it: from the working directory, else by its name."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return folder.name


def _numbers(request: Request) -> NumberFormat:
    settings = studio_context(request).settings
    return NumberFormat(settings.locale, settings.currency)
