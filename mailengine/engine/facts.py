"""Facts about one customer for the planner, read from the store at the moment of planning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.config import Settings
from mailengine.engine.planner import ContactPressure
from mailengine.store.audience_queries import customer_matches
from mailengine.store.enrollments import marketing_planned_since
from mailengine.store.predictions import shop_best_send_hour
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import Condition

# (session, customer id, now) -> a reason to hold marketing mail back and until when, or None.
HoldCheck = Callable[[Session, int, datetime], tuple[datetime, str] | None]


class StoreFacts:
    """Conditions are evaluated in SQL on the customer's data as it is now."""

    def __init__(
        self,
        session: Session,
        customer_id: int,
        zone: ZoneInfo,
        context: AudienceContext,
        pressure: ContactPressure | None,
        hold: HoldCheck | None = None,
        *,
        send_hour: int,
    ) -> None:
        self.zone = zone
        self.send_hour = send_hour
        self._session = session
        self._customer_id = customer_id
        self.context = context
        self._pressure = pressure
        self._hold = hold
        self.planned: list[datetime] = []  # marketing planned by the caller but not stored yet

    def matches(self, condition: Condition) -> bool:
        return customer_matches(self._session, condition, self._customer_id, self.context)

    def send_allowed_at(self, now: datetime, planned_now: int) -> tuple[datetime, str]:
        if self._hold is not None:
            held = self._hold(self._session, self._customer_id, now)
            if held is not None:
                return held
        if self._pressure is None:
            return now, ""
        recent = marketing_planned_since(
            self._session, self._customer_id, now - self._pressure.period
        )
        return self._pressure.allowed_at(now, recent + self.planned, planned_now, self.zone)


def shop_send_hour(session: Session, settings: Settings) -> int:
    """The hour `at: best_hour` uses for customers without one of their own: the shop's best
    hour as the nightly job stored it, else `engine.default_send_hour`."""
    found = shop_best_send_hour(session)
    return settings.engine.default_send_hour if found is None else found


def zone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    return _named_zone(name) or default


@lru_cache(maxsize=1024)
def _named_zone(name: str) -> ZoneInfo | None:
    """The zone of that name; None for none (ZoneInfo's own cache keeps only a few zones
    that nothing else holds, and a batch of customers walks through many)."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return None
