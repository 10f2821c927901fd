"""When a workflow's trigger would enroll one customer, between two moments.

The same rules the engine runs by: a schedule enrolls at each fire of its cron expression in
the shop's zone (the occurrence named as `WorkflowRunner.fire_schedule` names it); a yearly
trigger on the day of the customer's date, when the engine's yearly run first sees that day
(shortly after midnight in the shop's zone), its first step at `at` in the customer's zone;
an event trigger when the event arrives (simulated as arriving at the start).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailengine.cron.trigger import crontab_trigger
from mailengine.engine.runner import yearly_start
from mailengine.workflows.model import EventTrigger, ScheduleTrigger, Workflow, YearlyTrigger

MAX_OCCURRENCES = 5000  # a minutely cron over ten years is not walked fire by fire
YEARLY_RUN = time(0, 5)  # the engine's yearly job runs at minute 5 of every hour


@dataclass(frozen=True)
class Occurrence:
    """One trigger: enrollment `at`, first step at `starts`, named `key` as the engine does."""

    at: datetime
    starts: datetime
    key: str
    day: date | None = None  # a yearly trigger's day


def occurrences(
    workflow: Workflow,
    start: datetime,
    end: datetime,
    shop_zone: ZoneInfo,
    customer_zone: ZoneInfo,
    yearly_date: date | None = None,
) -> Iterator[Occurrence]:
    """Every occurrence from `start` to `end`, in time order (at most MAX_OCCURRENCES)."""
    trigger = workflow.trigger
    if isinstance(trigger, ScheduleTrigger):
        found: Iterator[Occurrence] = schedule_fires(trigger.cron, shop_zone, start, end)
    elif isinstance(trigger, YearlyTrigger):
        if yearly_date is None:
            return
        found = yearly_days(trigger, yearly_date, start, end, shop_zone, customer_zone)
    else:
        assert isinstance(trigger, EventTrigger)
        found = iter([Occurrence(start, start, "event:simulated")])
    for count, occurrence in enumerate(found):
        if count >= MAX_OCCURRENCES:
            return
        yield occurrence


def schedule_fires(
    cron: str, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[Occurrence]:
    trigger = crontab_trigger(cron, zone)
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment <= end:
        key = "schedule:" + moment.astimezone(zone).isoformat(timespec="minutes")
        yield Occurrence(moment.astimezone(UTC), moment.astimezone(UTC), key)
        following = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        # Around a DST fall-back hour the trigger can name the same instant again.
        while following is not None and following <= moment:
            following = trigger.get_next_fire_time(following, following + timedelta(minutes=1))
        moment = following


def yearly_days(
    trigger: YearlyTrigger,
    anniversary_of: date,
    start: datetime,
    end: datetime,
    shop_zone: ZoneInfo,
    customer_zone: ZoneInfo,
) -> Iterator[Occurrence]:
    first_day = start.astimezone(shop_zone).date() - timedelta(days=1)  # the run sees yesterday
    for year in range(first_day.year, end.astimezone(shop_zone).year + 1):
        day = anniversary(anniversary_of, year)
        if day < first_day:
            continue
        enrolled = max(datetime.combine(day, YEARLY_RUN, tzinfo=shop_zone), start)
        if enrolled > end:
            return
        starts = yearly_start(day, trigger.at, customer_zone, enrolled)
        yield Occurrence(
            enrolled.astimezone(UTC), starts.astimezone(UTC), f"yearly:{day.year}", day
        )


def anniversary(of: date, year: int) -> date:
    """`of`'s month and day in `year`; 29 February is kept on 28 February in other years."""
    try:
        return of.replace(year=year)
    except ValueError:
        return date(year, 2, 28)
