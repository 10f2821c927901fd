"""A customer's orders as a template sees them, made straight from the store's snapshots.

The same dicts as `render.context.order_context` of the `OrderData` the composer used to
build first: each message carries up to five orders of a few lines each, and building a
frozen dataclass per order and per line only to read it back into a dict cost some 20 us of
the 30 a message spent on its orders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mailengine.money import to_major
from mailengine.render.context import ItemContext, OrderContext
from mailengine.render.order_context import item_context_of, order_context_of, orders_section
from mailengine.store.recipients import OrderSnapshot


def order_contexts(orders: list[OrderSnapshot]) -> list[OrderContext]:
    """The orders' contexts, most recent first (as `build_context` sorts them)."""
    return orders_section([order_context(order) for order in orders], None)["orders"]


def order_context(order: OrderSnapshot) -> OrderContext:
    """What `render.context.order_context` makes of the order's `OrderData`."""
    return order_context_of(
        external_id=order.external_id,
        channel="store" if order.channel == "store" else "online",
        placed_at=order.placed_at,
        status=order.status,
        amount=to_major(order.amount_minor, order.currency),
        currency=order.currency,
        items=[_item_context(item) for item in order.items],
        shipped_at=order.shipped_at,
        expected_ship_date=order.expected_ship_date,
    )


def _item_context(item: dict[str, Any]) -> ItemContext:
    return item_context_of(
        sku=str(item.get("sku") or ""),
        name=str(item["name"]),
        quantity=int(item.get("quantity") or 1),
        unit_price=Decimal(str(item.get("unit_price") or "0")),
        size=item.get("size"),
        image_url=item.get("image_url"),
    )
