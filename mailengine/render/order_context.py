"""An order's template context from its values: the one place its keys are written, for
`render.context` (from OrderData) and the composer (from the store's snapshots)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailengine.clock import ensure_aware

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

    from mailengine.render.context import Channel, ItemContext, OrderContext


def order_context_of(
    *,
    external_id: str,
    channel: Channel,
    placed_at: datetime,
    status: str,
    amount: Decimal,
    currency: str,
    items: list[ItemContext],
    shipped_at: datetime | None,
    expected_ship_date: date | None,
) -> OrderContext:
    """An order's context from its values and its lines' contexts."""
    result: OrderContext = {
        "external_id": external_id,
        "channel": channel,
        "placed_at": ensure_aware(placed_at),
        "status": status,
        "amount": amount,
        "currency": currency.upper(),
        "items": items,
        "item_count": sum(item["quantity"] for item in items),
    }
    if shipped_at is not None:
        result["shipped_at"] = ensure_aware(shipped_at)
    if expected_ship_date is not None:
        result["expected_ship_date"] = expected_ship_date
    return result
