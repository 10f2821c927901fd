"""What an audience condition's meaning depends on; the conditions compile to SQL in
`mailengine.store.audience_sql`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from mailengine.clock import ensure_aware

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class AudienceContext:
    """What a condition's meaning depends on: the moment, the shop's zone and currency."""

    now: datetime
    zone: ZoneInfo = UTC_ZONE
    currency_exponent: int = 2  # minor units per major unit: 10 ** exponent

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", ensure_aware(self.now))
