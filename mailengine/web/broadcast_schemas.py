"""The broadcasts API's bodies as the OpenAPI document shows them.

`BroadcastIn` only documents the request: the body is read by the broadcast files' own
loader (`broadcast_body`), so that the API and `broadcasts/NAME.yaml` take exactly the same
fields and refuse the same mistakes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class BroadcastIn(BaseModel):
    """A broadcast, with the fields of a `broadcasts/NAME.yaml` file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", examples=["december-sale"])
    description: str = ""
    topic: str = Field(
        default="newsletter",
        pattern=r"^[a-z][a-z0-9-]{0,39}$",
        description="The preference a customer can turn off: newsletter, promotions, ...",
    )
    audience: dict[str, Any] | None = Field(
        default=None,
        description="The workflows' audience conditions; left out: everyone with consent",
        examples=[{"city": {"in": ["Berlin", "Wien"]}}],
    )
    template: str = Field(examples=["newsletter/newsletter"])
    subject: str = Field(examples=["{{ customer.first_name | default('Hello') }}, 20 % off"])
    preheader: str | None = None
    coupon: dict[str, Any] | None = Field(
        default=None, examples=[{"percent": 20, "valid_for": "7 days"}]
    )
    send_at: str | dict[str, str] = Field(
        description=(
            'A time in the shop\'s zone ("2026-12-10 09:00"), or that hour in each '
            'customer\'s own zone ({"date": "2026-12-10", "local": "10:00"})'
        ),
        examples=["2026-12-10 09:00"],
    )
    throttle: dict[str, int] | None = Field(default=None, examples=[{"per_hour": 20000}])
    tracking: bool = True
    contact_pressure: Literal["apply", "waive"] = "apply"
    content: dict[str, Any] | None = Field(
        default=None, description="Free data for the template: `broadcast.content`"
    )
    ab_test: dict[str, Any] | None = Field(
        default=None,
        examples=[
            {
                "variants": [
                    {"name": "A", "share": "10%"},
                    {"name": "B", "share": "10%", "subject": "Only this week"},
                ],
                "winner": {"metric": "clicks", "after": "4 hours"},
            }
        ],
    )


class BroadcastOut(BaseModel):
    """A stored broadcast: where it stands and how many of its messages are in each state."""

    name: str
    origin: str = Field(description="file (`mailengine broadcast schedule`) or api")
    state: str = Field(description="scheduled, planning, testing, planned, paused or cancelled")
    topic: str | None
    description: str | None
    send_at: str | None = Field(description="As the broadcast says it, in words")
    first_send: datetime | None = Field(description="When its first mail may go")
    plan_at: datetime = Field(description="When planning starts (or started)")
    winner_at: datetime | None
    winner: str | None
    planned: int = Field(description="Messages planned into the outbox")
    created_at: datetime
    paused_at: datetime | None
    cancelled_at: datetime | None
    planned_at: datetime | None
    messages: dict[str, int] = Field(description="Its messages by outbox state")


class BroadcastList(BaseModel):
    broadcasts: list[BroadcastOut]


class IntervalOut(BaseModel):
    """A value with its 95 % interval; an unbounded end is null."""

    estimate: float | None
    low: float | None
    high: float | None


class FiguresOut(BaseModel):
    """One variant's messages by what became of them; rates are per delivered message."""

    model_config = ConfigDict(extra="allow")

    planned: int
    sent: int
    delivered: int
    bounced: int
    bounced_hard: int
    bounced_soft: int
    opened: int
    clicked: int
    unsubscribed: int
    complained: int
    conversions: int
    revenue: float = Field(description="In major units of the shop's currency")
    skipped: int
    skip_reasons: dict[str, int]
    cancelled: int
    paused: int
    waiting: int
    failed: int
    open_rate: IntervalOut | None
    click_rate: IntervalOut | None
    conversion_rate: IntervalOut | None
    revenue_per_recipient: IntervalOut | None
    phases: dict[str, FiguresOut] = Field(
        default_factory=dict, description="The test cell and the rest, when there are both"
    )


class WinnerOut(BaseModel):
    metric: str
    variant: str = Field(description="The variant that wins, or would win now")
    significant: bool
    tie: bool
    sentence: str
    values: dict[str, IntervalOut | None]
    differences: dict[str, IntervalOut | None]
    chosen: str | None = Field(description="The variant the engine sent to the rest, once it did")


class BroadcastDetail(BroadcastOut):
    """A stored broadcast with its figures per variant and the winner."""

    note: str | None
    variants: dict[str, FiguresOut]
    winner_choice: WinnerOut | None


class Moved(BaseModel):
    """What a pause, resume or cancel did."""

    name: str
    state: str
    messages: int = Field(description="Messages held, released or dropped")
