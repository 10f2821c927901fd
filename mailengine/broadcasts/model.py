"""The typed model of a broadcast file; built by the loader, read by the store and engine."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from mailengine.errors import SourceLocation
from mailengine.workflows.model import Condition, Coupon

# Shares are in basis points: 10 % is 1,000. A customer's bucket is in [0, SPLIT_BUCKETS).
SPLIT_BUCKETS = 10_000
# The A/B split hashes customer ids with ((id * multiplier + offset) mod SPLIT_PRIME): plain
# integer arithmetic that PostgreSQL and SQLite compute alike inside the planning statement.
SPLIT_PRIME = 2_147_483_647  # 2**31 - 1
Metric = Literal["opens", "clicks", "conversions", "revenue"]
METRICS: tuple[Metric, ...] = ("opens", "clicks", "conversions", "revenue")


@dataclass(frozen=True, slots=True)
class ShopTime:
    """`send_at: "2026-12-10 09:00"`: one instant, in the shop's zone."""

    at: datetime  # naive: wall time in the shop's zone


@dataclass(frozen=True, slots=True)
class LocalTime:
    """`send_at: {date: 2026-12-10, local: "10:00"}`: that hour in each customer's zone."""

    day: date
    at: time


SendAt = ShopTime | LocalTime


@dataclass(frozen=True, slots=True)
class Variant:
    """One version of the mail: its own subject and/or template, sent to `share` of the
    audience (basis points). Fields left out in the file are the broadcast's own."""

    name: str
    share: int  # basis points of the audience in the test phase
    template: str
    subject: str
    preheader: str | None
    location: SourceLocation
    # Where the template, subject and preheader it sends are written (its own, or the
    # broadcast's when it has none of its own): problems in them are shown there.
    template_at: SourceLocation | None = None
    subject_at: SourceLocation | None = None
    preheader_at: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class WinnerRule:
    """After `after`, the variant with the best `metric` goes to everyone not in the test."""

    metric: Metric
    after: timedelta


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most `per_hour` messages an hour, spread evenly."""

    per_hour: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    name: str
    description: str
    path: str
    version: str  # sha256 (16 hex) of the file's data, like a workflow's
    topic: str  # the preference a customer can turn off: "newsletter" by default
    audience: Condition | None
    template: str
    subject: str
    preheader: str | None
    send_at: SendAt
    location: SourceLocation
    coupon: Coupon | None = None
    throttle: Throttle | None = None
    tracking: bool = True
    contact_pressure: bool = True  # False: `contact_pressure: waive` in the file
    variants: tuple[Variant, ...] = ()  # empty: one mail to everyone
    winner: WinnerRule | None = None  # None with variants: a plain split, shares total 100 %
    content: dict[str, object] = field(default_factory=dict)  # `content:` for the template
    template_at: SourceLocation | None = None  # where the top level's template, subject
    subject_at: SourceLocation | None = None  # and preheader are written
    preheader_at: SourceLocation | None = None

    @property
    def workflow_key(self) -> str:
        """What the outbox's `workflow` column says for this broadcast's mail."""
        return f"broadcast:{self.name}"

    def test_variants(self) -> tuple[Variant, ...]:
        """The variants sent first: all of them (a split), or the test cells (with a winner)."""
        return self.variants or (self.only_variant(),)

    def only_variant(self) -> Variant:
        """The mail as the file's top level describes it, as the one variant `all`."""
        return Variant(
            "all",
            SPLIT_BUCKETS,
            self.template,
            self.subject,
            self.preheader,
            self.location,
            self.template_at,
            self.subject_at,
            self.preheader_at,
        )

    def variant(self, name: str) -> Variant:
        for variant in self.test_variants():
            if variant.name == name:
                return variant
        raise KeyError(name)

    def bucket_ranges(self) -> dict[str, tuple[int, int]]:
        """Each test variant's buckets [low, high); with a winner, the rest is [sum, 10,000)."""
        ranges: dict[str, tuple[int, int]] = {}
        low = 0
        for variant in self.test_variants():
            ranges[variant.name] = (low, low + variant.share)
            low += variant.share
        return ranges

    def rest_range(self) -> tuple[int, int] | None:
        """The buckets that get the winner, or None when there is no winner to wait for."""
        if self.winner is None:
            return None
        return (sum(v.share for v in self.variants), SPLIT_BUCKETS)


def split_coefficients(secret: bytes, broadcast_name: str) -> tuple[int, int]:
    """The keyed (multiplier, offset) of a broadcast's split: a fresh shuffle per broadcast,
    that nobody without the shop's secret can predict, and the same on every run."""
    digest = hmac.new(secret, b"broadcast-split\x00" + broadcast_name.encode(), "sha256").digest()
    multiplier = 1 + int.from_bytes(digest[:4], "big") % (SPLIT_PRIME - 1)
    offset = int.from_bytes(digest[4:8], "big") % SPLIT_PRIME
    return multiplier, offset


def bucket_of(customer_id: int, coefficients: tuple[int, int]) -> int:
    """The customer's bucket, as the planning statement computes it in SQL."""
    multiplier, offset = coefficients
    return ((customer_id * multiplier + offset) % SPLIT_PRIME) % SPLIT_BUCKETS
