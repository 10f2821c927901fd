"""A customer's predicted figures as templates see them: `customer.predictions`.

None for a customer not predicted yet (test it: `{% if customer.predictions %}`). Otherwise
`p_active` and `churn_risk` (0-1) and `expected_orders_90d` are always there; the predicted
next order (a date in the customer's zone), predicted value over 365 days (money in the shop
currency) and best hour to send (0-23, their zone) only when the prediction has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NotRequired, TypedDict
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class PredictionsData:
    """What the prediction job stored for one customer, money in major units."""

    p_active: float
    churn_risk: float
    expected_orders_90d: float
    predicted_next_order_at: datetime | None = None
    predicted_value_365d: Decimal | None = None
    best_send_hour: int | None = None


class PredictionsContext(TypedDict):
    p_active: float
    churn_risk: float
    expected_orders_90d: float
    predicted_next_order_at: NotRequired[date]
    predicted_value_365d: NotRequired[Decimal]
    best_send_hour: NotRequired[int]


def predictions_context(data: PredictionsData, timezone: str) -> PredictionsContext:
    """The template's view; `timezone` is a valid IANA name (the customer's, normalised)."""
    result: PredictionsContext = {
        "p_active": data.p_active,
        "churn_risk": data.churn_risk,
        "expected_orders_90d": data.expected_orders_90d,
    }
    if data.predicted_next_order_at is not None:
        local = data.predicted_next_order_at.astimezone(ZoneInfo(timezone))
        result["predicted_next_order_at"] = local.date()
    if data.predicted_value_365d is not None:
        result["predicted_value_365d"] = Decimal(data.predicted_value_365d)
    if data.best_send_hour is not None:
        result["best_send_hour"] = data.best_send_hour
    return result
