"""Why a customer is not in a workflow's audience at a moment, in plain words.

The verdict is always the engine's own SQL (`customer_in_audience`); this module only says
why, part by part: eligibility first (forgotten, suppressed, no marketing consent), then
each audience condition the customer fails, with their value and what the audience wants:
"last_order_at is 12 days ago (2026-11-11), the audience wants 90+ days ago".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailengine.store.audience_queries import customer_matches
from mailengine.store.engine_queries import customer_in_audience
from mailengine.store.simulation_queries import CustomerFacts, is_eligible
from mailengine.workflows import fields
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.model import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Not,
    RelativeMoment,
    RfmScore,
    RfmSegment,
    TopPercent,
    WindowComparison,
    Workflow,
)

_SYMBOLS = {"eq": "", "ne": "not ", "gt": "> ", "gte": ">= ", "lt": "< ", "lte": "<= "}
_SUPPRESSED = {
    "hard-bounce": "hard bounce",
    "complaint": "marked as spam",
    "unsubscribe": "unsubscribed",
    "forgotten": "forgotten",
    "manual": "added by hand",
}
_COLUMNS = {"consent": "consent_status", "total_spent": "total_spent_minor",
            "spent_365d": "spent_365d_minor",
            "predicted_value_365d": "predicted_value_365d_minor"}  # fmt: skip


def why_not_selected(
    session: Session, workflow: Workflow, facts: CustomerFacts, context: AudienceContext
) -> list[str]:
    """Why the engine's audience SQL does not select this customer now (empty: it does)."""
    if customer_in_audience(session, workflow, facts.id, context):
        return []
    return reasons_for(session, workflow, facts, context)


def reasons_for(
    session: Session, workflow: Workflow, facts: CustomerFacts, context: AudienceContext
) -> list[str]:
    """The reasons of a customer the audience did not select: eligibility, then conditions."""
    reasons = why_not_eligible(session, workflow, facts, context.zone)
    found = why_not_in_audience(session, workflow, facts, context)
    if found or not reasons:
        reasons.append("not in the audience: " + "; ".join(found or ["no match"]))
    return reasons


def why_not_eligible(
    session: Session, workflow: Workflow, facts: CustomerFacts, zone: ZoneInfo
) -> list[str]:
    """Why the workflow may not mail this customer at all; empty when it may."""
    if is_eligible(session, workflow, facts.id):
        return []
    values = facts.values
    reasons = []
    if values.get("forgotten_at") is not None:
        reasons.append(f"forgotten on {_day(values['forgotten_at'], zone)}")
    if facts.suppression is not None:
        how = _SUPPRESSED.get(facts.suppression, facts.suppression)
        since = f" on {_day(facts.suppressed_at, zone)}" if facts.suppressed_at else ""
        reasons.append(f"suppressed: {how}{since}")
    status = values.get("consent_status")
    if not workflow.transactional and status != "granted":
        reasons.append(_consent(status, facts.consent_since, zone))
    return reasons or ["not eligible for this workflow's mail"]


def why_not_in_audience(
    session: Session, workflow: Workflow, facts: CustomerFacts, context: AudienceContext
) -> list[str]:
    """The audience conditions this customer fails now (asked in SQL one by one)."""
    if workflow.audience is None:
        return []
    return _failing(session, workflow.audience, facts, context)


def _failing(
    session: Session, condition: Condition, facts: CustomerFacts, context: AudienceContext
) -> list[str]:
    if customer_matches(session, condition, facts.id, context):
        return []
    if isinstance(condition, AllOf):
        found = [
            r for part in condition.conditions for r in _failing(session, part, facts, context)
        ]
        return found or [describe(condition)]
    if isinstance(condition, AnyOf):
        parts = [
            r for part in condition.conditions for r in _failing(session, part, facts, context)
        ]
        return ["none of: " + "; ".join(parts)]
    if isinstance(condition, Comparison):
        return [_comparison(condition, facts, context)]
    if isinstance(condition, TopPercent):
        theirs = _value(condition.by, facts, context)
        return [f"{condition.by} is {theirs}, the audience wants {describe(condition)}"]
    return [f"the audience wants {describe(condition)}"]


def _comparison(comparison: Comparison, facts: CustomerFacts, context: AudienceContext) -> str:
    name = comparison.field
    shown = _value(name, facts, context)
    return f"{name} is {shown}, the audience wants {_wanted(comparison)}"


def _value(name: str, facts: CustomerFacts, context: AudienceContext) -> str:
    values = facts.values
    if name.startswith(fields.ATTRIBUTE_PREFIX):
        attributes = values.get("attributes") or {}
        key = fields.attribute_key(name)
        return repr(attributes[key]) if key in attributes else "not set"
    if name == "days_since_last_order":
        last = values.get("last_order_at")
        return "not set (no orders)" if last is None else str((context.now - last).days)
    value = values.get(_COLUMNS.get(name, name))
    spec = fields.spec_of(name)
    if value is None or value == "":
        if spec is not None and spec.predicted:
            return "not predicted yet"
        return "not set (no orders)" if name.endswith("order_at") else "not set"
    if isinstance(value, datetime):
        days = (context.now - value).days
        ago = f"{days} days ago" if days >= 0 else f"in {-days} days"
        return f"{ago} ({_day(value, context.zone)})"
    if spec is not None and spec.kind == "money":
        return _major(int(value), context)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _wanted(comparison: Comparison) -> str:
    operator, value = comparison.operator, comparison.value
    if operator == "is_set":
        return "it set" if value else "it not set"
    if operator == "within":
        assert isinstance(value, timedelta)
        spec = fields.spec_of(comparison.field)
        ahead = spec is not None and spec.future
        return f"within the {'next' if ahead else 'last'} {_span(value)}"
    if operator in ("before", "after"):
        return _moment(operator, value)
    if operator in ("in", "not_in"):
        assert isinstance(value, tuple)
        listed = ", ".join(_plain(item) for item in value)
        return f"one of {listed}" if operator == "in" else f"none of {listed}"
    if operator == "starts_with":
        return f"it to start with {_plain(value)}"
    return f"{_SYMBOLS[operator]}{_plain(value)}"


def _moment(operator: str, value: Any) -> str:
    if isinstance(value, RelativeMoment) and value.offset <= timedelta(0) and value.offset.days:
        days = -value.offset.days
        return f"{days}+ days ago" if operator == "before" else f"under {days} days ago"
    return f"{operator} {_plain(value)}"


def describe(condition: Condition) -> str:
    """A condition as a short phrase, for conditions whose value is not one stored field."""
    if isinstance(condition, Comparison):
        return f"{condition.field} {_wanted(condition)}"
    if isinstance(condition, WindowComparison):
        return (
            f"{condition.metric} within the last {_span(condition.window)} "
            f"{_SYMBOLS.get(condition.operator, condition.operator + ' ')}{_plain(condition.value)}"
        )
    if isinstance(condition, TopPercent):
        return f"the top {condition.percent} % of buyers by {condition.by}"
    if isinstance(condition, RfmScore):
        return f"an RFM score {_SYMBOLS.get(condition.operator, '')}{_plain(condition.value)}"
    if isinstance(condition, RfmSegment):
        return "RFM segment " + " or ".join(condition.segments)
    if isinstance(condition, Not):
        return f"not ({describe(condition.condition)})"
    joiner = " and " if isinstance(condition, AllOf) else " or "
    return joiner.join(describe(part) for part in condition.conditions)


def _consent(status: Any, since: datetime | None, zone: ZoneInfo) -> str:
    when = f" on {_day(since, zone)}" if since else ""
    if status == "withdrawn":
        return f"no marketing consent (withdrawn{when})"
    if status == "pending":
        return f"no marketing consent (asked{when}, not confirmed yet)"
    return "no marketing consent (never given)"


def _major(minor: int, context: AudienceContext) -> str:
    return str(Decimal(minor).scaleb(-context.currency_exponent))


def _plain(value: Any) -> str:
    if isinstance(value, RelativeMoment):
        days = value.offset.days
        if not days:
            return "today" if value.start_of_day else "now"
        return f"{-days} days ago" if days < 0 else f"in {days} days"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(_plain(item) for item in value)
    return str(value)


def _span(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days else f"{int(delta.total_seconds() // 3600)} hours"


def _day(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d}"
