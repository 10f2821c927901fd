"""When a broadcast goes and how fast: `send_at` and `throttle` read from the file, and the
instants they mean.

```yaml
send_at: "2026-12-10 09:00"                    # the shop's zone (config `timezone`)
send_at: {date: 2026-12-10, local: "10:00"}     # 10:00 in each customer's own zone
throttle: {per_hour: 20000}
```
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailengine.broadcasts.model import LocalTime, SendAt, ShopTime, Throttle
from mailengine.workflows import phrases
from mailengine.workflows.problems import ProblemLog
from mailengine.yamlsource import PathKey

SEND_AT_FORMS = (
    'write send_at: "2026-12-10 09:00" (in the shop\'s time zone) or '
    '{date: 2026-12-10, local: "10:00"} (that hour in each customer\'s own zone)'
)
LOCAL_KEYS = ("date", "local")
THROTTLE_KEYS = ("per_hour",)
SLOWEST_PER_HOUR = 60
# The zones furthest ahead of and behind UTC: `local` sends span these.
EARLIEST_OFFSET = timedelta(hours=14)  # Pacific/Kiritimati
LATEST_OFFSET = timedelta(hours=-12)  # Etc/GMT+12


def parse_send_at(data: Any, log: ProblemLog) -> SendAt | None:
    """The send time written at `send_at`, or None (with problems logged)."""
    at: PathKey = ("send_at",)
    if isinstance(data, dict):
        return _parse_local(data, at, log)
    if isinstance(data, datetime):
        moment: datetime | None = data
    elif isinstance(data, date) or (isinstance(data, str) and _date(data.strip()) is not None):
        log.at(at, f"'{data}' has no time of day: {SEND_AT_FORMS}")
        return None
    elif isinstance(data, str):
        moment = _datetime(data.strip())
    else:
        moment = None
    if moment is None:
        log.at(at, f"{data!r} is not a date and time: {SEND_AT_FORMS}")
        return None
    if moment.tzinfo is not None:
        log.at(
            at,
            f"'{data}' has a time zone: send_at is a time in the shop's zone (config timezone), "
            'written without one, e.g. "2026-12-10 09:00"',
        )
        return None
    return ShopTime(moment.replace(second=0, microsecond=0))


def parse_throttle(data: Any, log: ProblemLog) -> Throttle | None:
    at: PathKey = ("throttle",)
    if not isinstance(data, dict) or "per_hour" not in data:
        log.at(at, "write throttle: {per_hour: 20000} (messages an hour at the most)")
        return None
    log.unknown_keys(data, THROTTLE_KEYS, at, "throttle")
    per_hour = data["per_hour"]
    if isinstance(per_hour, bool) or not isinstance(per_hour, int) or per_hour < SLOWEST_PER_HOUR:
        log.at(
            (*at, "per_hour"),
            f"per_hour is a whole number of messages an hour, at least {SLOWEST_PER_HOUR}: "
            f"{per_hour!r}",
        )
        return None
    return Throttle(per_hour)


def shop_instant(send_at: ShopTime, zone: ZoneInfo) -> datetime:
    """The instant a shop-zone send time means (a wall time skipped by a DST change is
    read with the offset before it, as zoneinfo does)."""
    return send_at.at.replace(tzinfo=zone).astimezone(UTC)


def wall_time_exists(send_at: ShopTime, zone: ZoneInfo) -> bool:
    """False when a DST change skips the wall time in `zone` (02:30 on a spring-forward night)."""
    instant = shop_instant(send_at, zone)
    return instant.astimezone(zone).replace(tzinfo=None) == send_at.at


def local_instant(send_at: LocalTime, zone: ZoneInfo) -> datetime:
    """When a customer in `zone` gets a `local` broadcast."""
    return datetime.combine(send_at.day, send_at.at, tzinfo=zone).astimezone(UTC)


def local_span(send_at: LocalTime) -> tuple[datetime, datetime]:
    """The first and the last instant a `local` broadcast goes out, over all time zones."""
    wall = datetime.combine(send_at.day, send_at.at, tzinfo=UTC)
    return wall - EARLIEST_OFFSET, wall - LATEST_OFFSET


def sending_time(count: int, throttle: Throttle | None) -> timedelta | None:
    """How long `count` messages take at the throttle's pace; None without a throttle."""
    if throttle is None:
        return None
    return timedelta(hours=count / throttle.per_hour)


def _parse_local(data: dict[str, Any], at: PathKey, log: ProblemLog) -> LocalTime | None:
    before = len(log.problems)
    log.unknown_keys(data, LOCAL_KEYS, at, "send_at")
    for key in LOCAL_KEYS:
        if key not in data:
            log.at(at, f"send_at needs {key}: {SEND_AT_FORMS}")
    day = data.get("date")
    if isinstance(day, str):
        day = _date(day.strip())
    if "date" in data and (not isinstance(day, date) or isinstance(day, datetime)):
        log.at((*at, "date"), f"expected a date such as 2026-12-10, got {data['date']!r}")
    local: time | None = None
    if "local" in data:
        try:
            local = phrases.parse_time_of_day(data["local"])
        except ValueError as error:
            log.at((*at, "local"), str(error))
    if len(log.problems) != before or local is None or not isinstance(day, date):
        return None
    return LocalTime(day, local)


def _datetime(text: str) -> datetime | None:
    if len(text) <= 10:
        return None  # a date alone, or not a date at all
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
