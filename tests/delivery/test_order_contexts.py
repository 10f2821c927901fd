"""Orders made into template contexts straight from the snapshots give what the OrderData
route gives (`render.context.build_context`), key for key and in the same order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from mailengine.money import to_major
from mailengine.outbound.order_contexts import order_context, order_contexts
from mailengine.render.context import OrderData, OrderItemData
from mailengine.render.context import order_context as context_of_data
from mailengine.store.recipients import OrderSnapshot
from tests.conftest import NOW


def _data(order: OrderSnapshot) -> OrderData:
    """The OrderData the composer built before (and previews still build)."""
    items = [
        OrderItemData(
            sku=str(item.get("sku") or ""),
            name=str(item["name"]),
            quantity=int(item.get("quantity") or 1),
            unit_price=Decimal(str(item.get("unit_price") or "0")),
            size=item.get("size"),
            image_url=item.get("image_url"),
        )
        for item in order.items
    ]
    return OrderData(
        external_id=order.external_id,
        channel="store" if order.channel == "store" else "online",
        placed_at=order.placed_at,
        status=order.status,
        amount=to_major(order.amount_minor, order.currency),
        currency=order.currency,
        items=items,
        shipped_at=order.shipped_at,
        expected_ship_date=order.expected_ship_date,
    )


def _snapshot(number: int, items: list[dict[str, Any]], **changes: Any) -> OrderSnapshot:
    values: dict[str, Any] = {
        "external_id": f"A-{number}",
        "channel": "online",
        "store_location": None,
        "amount_minor": 5990 + number,
        "currency": "eur",
        "status": "placed",
        "items": items,
        "placed_at": NOW - timedelta(days=number),
        "shipped_at": None,
        "expected_ship_date": None,
    }
    return OrderSnapshot(**(values | changes))


ITEMS: list[dict[str, Any]] = [
    {"sku": "S-1", "name": "Shirt", "quantity": 2, "unit_price": "19.99", "size": "M"},
    {"name": 42, "unit_price": 5, "image_url": "https://shop.example/p.png", "size": "  "},
    {"sku": None, "name": "Socks", "quantity": 0, "unit_price": None, "image_url": " "},
]
ORDERS = [
    _snapshot(3, ITEMS),
    _snapshot(1, ITEMS[:1], channel="store", currency="JPY", amount_minor=1200),
    _snapshot(2, [], status="shipped", shipped_at=NOW, expected_ship_date=date(2026, 12, 1)),
    # Same instant as A-3 in another zone: the sort keeps their order, as it did.
    _snapshot(
        4, ITEMS[1:], placed_at=(NOW - timedelta(days=3)).astimezone(timezone(timedelta(hours=5)))
    ),
    _snapshot(5, ITEMS, channel="marketplace", currency="usd", amount_minor=-250),
]


def test_each_order_as_from_its_order_data() -> None:
    for order in ORDERS:
        made, expected = order_context(order), context_of_data(_data(order))
        assert made == expected
        assert list(made) == list(expected)
        assert [list(item) for item in made["items"]] == [list(i) for i in expected["items"]]
        assert [type(value) for value in made.values()] == [type(v) for v in expected.values()]


def test_orders_sorted_most_recent_first_as_build_context_sorts_them() -> None:
    made = order_contexts(list(ORDERS))
    expected = sorted(
        (_data(order) for order in ORDERS), key=lambda o: o.placed_at.astimezone(UTC), reverse=True
    )
    assert [order["external_id"] for order in made] == [order.external_id for order in expected]
    assert made == [context_of_data(order) for order in expected]


def test_a_naive_order_time_is_refused_as_before() -> None:
    naive = _snapshot(1, [], placed_at=datetime(2026, 11, 1, 9, 0))
    with pytest.raises(ValueError, match="naive"):
        context_of_data(_data(naive))
    with pytest.raises(ValueError, match="naive"):
        order_context(naive)
