"""What the workflow, simulation and report pages are asked for in their query strings, read
with errors that name the field; the conversion window they count with; and the page that
shows such an error or a missing thing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from mailengine.studio.context import StudioContext
from mailengine.studio.rendering import render_page

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"


class PageInputError(ValueError):
    """A query parameter the page cannot use; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Period:
    key: str  # "30d"
    days: int
    since: datetime
    until: datetime

    @property
    def words(self) -> str:
        return f"the last {self.days} days"


def period_of(text: str | None, now: datetime) -> Period:
    key = text or DEFAULT_PERIOD
    if key not in PERIODS:
        choices = ", ".join(PERIODS)
        raise PageInputError("period", f"'{key}' is not a period here; choose one of {choices}")
    days = PERIODS[key]
    return Period(key, days, now - timedelta(days=days), now)


def attribution(context: StudioContext) -> timedelta:
    """How long after a send or click an order counts as its conversion
    (`http.attribution_days`)."""
    return timedelta(days=context.settings.http.attribution_days)


def whole_number(text: str | None, field: str, low: int, high: int, default: int) -> int:
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise PageInputError(field, f"'{text}' is not a whole number") from None
    if not low <= value <= high:
        raise PageInputError(field, f"{value} is outside {low} to {high}")
    return value


def problem_page(
    request: Request,
    status: int,
    title: str,
    text: str,
    back: tuple[str, str],
    details: Sequence[str] = (),
) -> HTMLResponse:
    """A page that says what is missing or wrong, with the status code to match; `back` is
    (href, label) of the page to go on from; `details` are listed (each problem, say)."""
    return render_page(
        request,
        "problem.html",
        status_code=status,
        title=title,
        text=text,
        status=status,
        back_href=back[0],
        back_label=back[1],
        details=list(details),
    )
