"""What `mailengine broadcast list` and `show` (and the studio's broadcast pages) say about a
broadcast, resolved: its send time in the shop's zone and in UTC (or across the customers'
zones), its variants with their shares and audience, the winner rule, and how long sending
takes at its throttle. Plain facts and rows; the CLI and the studio lay them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailengine.broadcasts.ab_test import shown_share
from mailengine.broadcasts.model import SPLIT_BUCKETS, Broadcast, ShopTime
from mailengine.broadcasts.schedule import (
    local_instant,
    local_span,
    sending_time,
    shop_instant,
    wall_time_exists,
)
from mailengine.engine.audience_reasons import describe

NOT_SCHEDULED = "not scheduled"
NOT_SCHEDULED_NOTE = "a broadcast sends only after `mailengine broadcast schedule NAME`"


@dataclass(frozen=True)
class Fact:
    """One line of `broadcast show`: `key` for programs, `label` for people; `indent` 1 for a
    line that details the one above."""

    key: str
    label: str
    value: Any
    indent: int = 0


@dataclass(frozen=True)
class Audience:
    """How many customers the audience holds now, or why that is not known."""

    count: int | None
    why_unknown: str = ""


def audience_words(broadcast: Broadcast) -> str:
    if broadcast.audience is None:
        return "everyone with consent"
    return describe(broadcast.audience)


def variants_words(broadcast: Broadcast) -> str | None:
    """`A 10 %, B 10 %; winner by clicks after 4 hours`, or None without a test."""
    if not broadcast.variants:
        return None
    shares = ", ".join(f"{v.name} {shown_share(v.share)}" for v in broadcast.variants)
    winner = broadcast.winner
    if winner is None:
        return f"{shares} (a split)"
    return f"{shares}; winner by {winner.metric} after {_span(winner.after)}"


def facts(
    broadcast: Broadcast,
    zone: ZoneInfo,
    now: datetime,
    audience: Audience,
    state: str,
    currency: str,
) -> list[Fact]:
    """Everything about the broadcast, resolved, for `show`."""
    found = [
        Fact("name", "name", broadcast.name),
        Fact("description", "description", broadcast.description or None),
        Fact("file", "file", broadcast.path),
        Fact("version", "version", broadcast.version),
        Fact("state", "state", state),
    ]
    if state == NOT_SCHEDULED:
        found.append(Fact("state_note", "", NOT_SCHEDULED_NOTE, indent=1))
    found += _send_time(broadcast, zone, now)
    found += [
        Fact("topic", "topic (customers may turn it off)", broadcast.topic),
        Fact("audience", "audience", audience_words(broadcast)),
        Fact("eligible", "who", "customers with consent who are not suppressed", indent=1),
        Fact(
            "audience_now",
            "audience now",
            audience.count if audience.count is not None else audience.why_unknown,
        ),
        Fact("template", "template", broadcast.template),
        Fact("subject", "subject", broadcast.subject),
        Fact("preheader", "preheader", broadcast.preheader),
        Fact("coupon", "coupon", _coupon(broadcast, currency)),
        Fact("content", "content", ", ".join(broadcast.content) or None),
        Fact("tracking", "tracking (opens, clicks)", broadcast.tracking),
        Fact(
            "contact_pressure",
            "contact pressure",
            "applies" if broadcast.contact_pressure else "waived: the caps do not apply",
        ),
    ]
    found += _winner(broadcast, zone, audience)
    found += _pace(broadcast, audience)
    return found


def variant_rows(broadcast: Broadcast, audience: Audience) -> list[dict[str, Any]]:
    """Each variant (or the one mail, `all`) with its share and customers; with a winner,
    the rest that gets it."""
    rows: list[dict[str, Any]] = []
    for variant in broadcast.test_variants():
        rows.append(
            {
                "variant": variant.name,
                "share": shown_share(variant.share),
                "customers": _part(audience, variant.share),
                "template": variant.template,
                "subject": variant.subject,
                "preheader": variant.preheader,
            }
        )
    rest = broadcast.rest_range()
    if rest is not None:
        share = rest[1] - rest[0]
        rows.append(
            {
                "variant": "rest",
                "share": shown_share(share),
                "customers": _part(audience, share),
                "template": "the winner's",
                "subject": "the winner's",
                "preheader": None,
            }
        )
    return rows


def _send_time(broadcast: Broadcast, zone: ZoneInfo, now: datetime) -> list[Fact]:
    send_at = broadcast.send_at
    if isinstance(send_at, ShopTime):
        instant = shop_instant(send_at, zone)
        shown = instant.astimezone(zone)
        found = [
            Fact("send_at", "send at", f"{shown:%Y-%m-%d %H:%M} {zone.key} ({shown:%Z, UTC%z})"),
            Fact("send_at_utc", "in UTC", f"{instant:%Y-%m-%d %H:%M} UTC", indent=1),
            Fact("send_in", "from now", _from_now(instant, now), indent=1),
        ]
        if not wall_time_exists(send_at, zone):
            skipped = f"{send_at.at:%H:%M} does not exist that day in {zone.key} (a DST change)"
            found.append(Fact("send_at_note", "", f"{skipped}: sent at {shown:%H:%M}", indent=1))
        return found
    first, last = local_span(send_at)
    own = local_instant(send_at, zone)
    return [
        Fact("send_at", "send at", f"{send_at.at:%H:%M} in each customer's own zone"),
        Fact("send_on", "on", f"{send_at.day:%Y-%m-%d} (their date)", indent=1),
        Fact("first_send", "first (UTC+14)", f"{first:%Y-%m-%d %H:%M} UTC", indent=1),
        Fact("last_send", "last (UTC-12)", f"{last:%Y-%m-%d %H:%M} UTC", indent=1),
        Fact(
            "without_zone",
            "customers without a zone",
            f"{send_at.at:%H:%M} {zone.key} = {own:%Y-%m-%d %H:%M} UTC",
            indent=1,
        ),
        Fact("send_in", "from now", _from_now(first, now), indent=1),
    ]


def _winner(broadcast: Broadcast, zone: ZoneInfo, audience: Audience) -> list[Fact]:
    rule, rest = broadcast.winner, broadcast.rest_range()
    if not broadcast.variants:
        return [Fact("ab_test", "A/B test", None)]
    if rule is None or rest is None:
        return [Fact("ab_test", "A/B test", "a plain split: no winner, shares total 100 %")]
    share = shown_share(rest[1] - rest[0])
    found = [
        Fact(
            "winner",
            "winner",
            f"the variant with the most {rule.metric}, {_span(rule.after)} after the test "
            f"goes, is sent to the other {share}",
        )
    ]
    if isinstance(broadcast.send_at, ShopTime):
        chosen = shop_instant(broadcast.send_at, zone) + rule.after
        found.append(
            Fact(
                "winner_at",
                "chosen at",
                f"{chosen.astimezone(zone):%Y-%m-%d %H:%M} {zone.key} ({chosen:%H:%M} UTC)",
                indent=1,
            )
        )
    return found


def _pace(broadcast: Broadcast, audience: Audience) -> list[Fact]:
    throttle = broadcast.throttle
    if throttle is None:
        return [Fact("throttle", "throttle", "none: as fast as the outbox sends")]
    found = [Fact("throttle", "throttle", f"{throttle.per_hour:,} messages an hour")]
    if audience.count is None:
        return found
    rest = broadcast.rest_range()
    tested = SPLIT_BUCKETS if rest is None else rest[0]
    phases = [("test" if rest is not None else "sending", tested)]
    if rest is not None:
        phases.append(("rest", rest[1] - rest[0]))
    for phase, share in phases:
        count = _part(audience, share) or 0
        took = sending_time(count, throttle) or timedelta(0)
        found.append(
            Fact(
                f"{phase}_takes",
                f"{phase} takes",
                f"{_about(took)} for {count:,} customers",
                indent=1,
            )
        )
    return found


def _about(took: timedelta) -> str:
    return f"about {_span(took)}" if took >= timedelta(minutes=1) else "under a minute"


def _coupon(broadcast: Broadcast, currency: str) -> str | None:
    offer = broadcast.coupon
    if offer is None:
        return None
    value = (
        f"{offer.percent} % off" if offer.percent is not None else f"{offer.amount} {currency} off"
    )
    return f"{value}, valid {_span(offer.valid_for)} from the send"


def _part(audience: Audience, share: int) -> int | None:
    if audience.count is None:
        return None
    return round(audience.count * share / SPLIT_BUCKETS)


def _from_now(instant: datetime, now: datetime) -> str:
    ahead = instant - now.astimezone(UTC)
    if ahead < timedelta(0):
        return f"{_span(-ahead)} ago (in the past)"
    return f"in {_span(ahead)}"


def _span(delta: timedelta) -> str:
    """`4 hours`, `3 h 20 min`, `2 days 4 h`, `under a minute`."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours and not minutes:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"
