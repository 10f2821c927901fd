"""An order's template context from its values: the one place its keys (and its lines' keys,
and which orders a context names) are written, for `render.context` (from OrderData) and the
composer (from the store's snapshots)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from mailengine.clock import ensure_aware

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

    from mailengine.render.context import Channel, ItemContext, OrderContext


class OrdersSection(TypedDict):
    """The orders a mail's context names: all of them, the one it is about, the latest."""

    orders: list[OrderContext]
    order: OrderContext | None
    last_order: OrderContext | None


def orders_section(orders: list[OrderContext], about: OrderContext | None) -> OrdersSection:
    """`orders` most recent first (by when they were placed; ties keep their order), `about`
    the order the mail is about, if any."""
    latest_first = sorted(orders, key=_placed_at, reverse=True)
    return {
        "orders": latest_first,
        "order": about,
        "last_order": latest_first[0] if latest_first else None,
    }


def _placed_at(order: OrderContext) -> datetime:
    return order["placed_at"]


def item_context_of(
    *,
    sku: str,
    name: str,
    quantity: int,
    unit_price: Decimal,
    size: str | None,
    image_url: str | None,
) -> ItemContext:
    """An order line's context; a blank size or image is left out."""
    entry: ItemContext = {
        "sku": sku,
        "name": name,
        "quantity": quantity,
        "unit_price": unit_price,
        "line_total": unit_price * quantity,
    }
    if size is not None and size.strip():
        entry["size"] = size
    if image_url is not None and image_url.strip():
        entry["image_url"] = image_url
    return entry


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
