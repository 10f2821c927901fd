"""The parts of a send's template context made from the store's snapshots: the customer, their
predictions and coupon, the broadcast, and which of their orders a send's templates name.

Making every order's context (its lines, amounts, dates) was half of what a send's context
cost, some 20 us for a customer with three orders, while a broadcast's template mostly names
only `last_order`: a send whose templates do not name `orders` gets its latest order and the
one it is about, not the list.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from mailengine.clock import ensure_aware
from mailengine.config import Settings
from mailengine.money import to_major
from mailengine.render.context import BroadcastData, CouponData, CustomerData
from mailengine.render.customer_polls import PollAnswerData
from mailengine.render.customer_predictions import PredictionsData
from mailengine.render.library import TemplateLibrary
from mailengine.render.template_sources import TemplateSources
from mailengine.store.coupons import IssuedCoupon
from mailengine.store.predictions import CustomerPrediction
from mailengine.store.recipients import OrderSnapshot, RecipientSnapshot

_ORDERS = "orders"
_LINES_KEPT = 1024


class OrdersNamed:
    """Whether a send's templates (HTML, text, subject and preheader, in every language) may
    read `orders`: any occurrence of the word counts, so a false answer is always safe."""

    def __init__(self, library: TemplateLibrary) -> None:
        self._library = library
        self._lines: dict[str, bool] = {}
        self._lock = threading.Lock()

    def by(
        self, name: str, sources: TemplateSources | None, subject: str, preheader: str | None
    ) -> bool:
        if self._library.compiled(name, sources).names_orders:
            return True
        return self._line(subject) or (preheader is not None and self._line(preheader))

    def _line(self, source: str) -> bool:
        """Whether a subject or preheader, or a translation of it, has the word: translated
        lines are templates too (see `TemplateLibrary.render`)."""
        found = self._lines.get(source)
        if found is None:
            found = _ORDERS in source or any(
                _ORDERS in translated for _, translated in self._library.line_translations(source)
            )
            if not self._library.catalogs.auto_reload:  # (catalogs read again may differ)
                with self._lock:
                    if len(self._lines) >= _LINES_KEPT:
                        self._lines.clear()
                    self._lines[source] = found
        return found


def latest_order(orders: list[OrderSnapshot]) -> OrderSnapshot | None:
    """The order `orders_section` puts first (the latest placed; of equal ones the first)."""
    return max(orders, key=_placed_at, default=None)


def _placed_at(order: OrderSnapshot) -> Any:
    return ensure_aware(order.placed_at)


def customer_data(recipient: RecipientSnapshot, settings: Settings) -> CustomerData:
    profile = recipient.profile
    currency = settings.currency
    return CustomerData(
        email=recipient.email,
        locale=profile.get("locale") or settings.locale,
        timezone=profile.get("timezone") or settings.timezone,
        currency=currency,
        first_name=profile.get("first_name"),
        last_name=profile.get("last_name"),
        birthday=profile.get("birthday"),
        city=profile.get("city"),
        zip=profile.get("zip"),
        country=profile.get("country"),
        attributes=profile.get("attributes") or {},
        orders_count=int(profile.get("orders_count") or 0),
        total_spent=to_major(int(profile.get("total_spent_minor") or 0), currency),
        predictions=_predictions(recipient.predictions, currency),
        polls={
            poll: PollAnswerData(found.answer, found.answered_at, found.score, found.comment)
            for poll, found in recipient.polls.items()
        },
    )


def _predictions(stored: CustomerPrediction | None, currency: str) -> PredictionsData | None:
    """What templates see of the predictions; None until the three model figures are
    there (what the prediction job always writes together)."""
    if stored is None:
        return None
    p_active, churn, orders = stored.p_active, stored.churn_risk, stored.expected_orders_90d
    if p_active is None or churn is None or orders is None:
        return None
    minor = stored.predicted_value_365d_minor
    return PredictionsData(
        p_active=p_active,
        churn_risk=churn,
        expected_orders_90d=orders,
        predicted_next_order_at=stored.predicted_next_order_at,
        predicted_value_365d=None if minor is None else to_major(minor, currency),
        best_send_hour=stored.best_send_hour,
    )


def coupon_data(coupon: IssuedCoupon, currency: str) -> CouponData:
    return CouponData(
        code=coupon.code,
        expires_at=coupon.expires_at,
        percent=coupon.percent,
        amount=(
            to_major(coupon.amount_minor, coupon.currency or currency)
            if coupon.amount_minor is not None
            else None
        ),
        currency=coupon.currency,
    )


def broadcast_data(payload: Mapping[str, Any]) -> BroadcastData | None:
    """The broadcast a send is part of, from the keys its planner wrote into the payload."""
    name = payload.get("broadcast")
    if not isinstance(name, str):
        return None
    content = payload.get("content")
    return BroadcastData(
        name, str(payload.get("variant") or "all"), content if isinstance(content, dict) else {}
    )
