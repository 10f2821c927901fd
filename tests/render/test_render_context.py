"""The context builder turns plain values into plain dicts, with absent data left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mailengine.render import (
    CouponData,
    CustomerData,
    LinksData,
    OrderData,
    OrderItemData,
    SenderData,
    TicketData,
    build_context,
)

LINKS = LinksData("https://x.example/u", "https://x.example/p", "https://x.example/")
SENDER = SenderData("Shop", "shop@x.example", "Shop GmbH\n  Markt 1\n\n10115 Berlin")


def order(external_id: str, placed_at: datetime) -> OrderData:
    return OrderData(
        external_id=external_id,
        channel="store",
        placed_at=placed_at,
        status="delivered",
        amount=Decimal("30"),
        currency="eur",
        items=[OrderItemData("S-1", "Shirt", 3, Decimal("10"), size=" ", image_url=None)],
    )


def test_context_is_plain_data_with_orders_most_recent_first() -> None:
    older = order("A", datetime(2025, 1, 1, tzinfo=UTC))
    newer = order("B", datetime(2025, 1, 2, 9, tzinfo=timezone(timedelta(hours=2))))
    context = build_context(
        customer=CustomerData(
            email="a@example.com",
            locale="de-DE",
            timezone="Europe/Berlin",
            first_name=" Anna ",
            last_name=None,
            city="",
            birthday=date(1990, 5, 17),
            attributes={"shirt_size": "M", "waist": None},
        ),
        links=LINKS,
        sender=SENDER,
        orders=[older, newer],
        coupon=CouponData("WB-1", datetime(2025, 2, 1, tzinfo=UTC), percent=15),
        ticket=TicketData("T-1042", "Where is my order?"),
    )
    customer = context["customer"]
    assert customer == {
        "email": "a@example.com",
        "locale": "de_DE",
        "lang": "de-DE",
        "timezone": "Europe/Berlin",
        "currency": "EUR",
        "attributes": {"shirt_size": "M"},
        "orders_count": 0,
        "total_spent": Decimal(0),
        "predictions": None,
        "polls": {},
        "first_name": "Anna",
        "full_name": "Anna",
        "birthday": date(1990, 5, 17),
    }
    assert [o["external_id"] for o in context["orders"]] == ["B", "A"]
    assert context["last_order"] is context["orders"][0]
    last = context["last_order"]
    assert last["placed_at"] == datetime(2025, 1, 2, 7, tzinfo=UTC)
    assert last["currency"] == "EUR" and last["item_count"] == 3
    assert last["items"] == [
        {"sku": "S-1", "name": "Shirt", "quantity": 3, "unit_price": Decimal("10"),
         "line_total": Decimal("30")}
    ]  # fmt: skip
    assert context["coupon"] == {
        "code": "WB-1",
        "expires_at": datetime(2025, 2, 1, tzinfo=UTC),
        "kind": "percent",
        "percent": Decimal(15),
    }
    assert context["links"]["assets_url"] == "https://x.example/email-assets"
    assert "view_in_browser_url" not in context["links"]
    assert context["sender"]["postal_address"] == "Shop GmbH, Markt 1, 10115 Berlin"
    assert context["ticket"] == {"reference": "T-1042", "subject": "Where is my order?"}
    allowed = (dict, list, str, int, Decimal, date, type(None))
    stack: list[object] = [context]
    while stack:
        value = stack.pop()
        assert isinstance(value, allowed), type(value)
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def test_absent_sections_are_none_and_bad_locale_or_zone_fall_back() -> None:
    context = build_context(
        customer=CustomerData(email="b@example.com", locale="zz", timezone="Nowhere/Land"),
        links=LINKS,
        sender=SENDER,
    )
    assert context["last_order"] is None and context["orders"] == []
    assert context["coupon"] is None and context["ticket"] is None
    assert (context["customer"]["locale"], context["customer"]["timezone"]) == ("en_US", "UTC")


def test_naive_datetimes_and_ambiguous_coupons_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        build_context(
            customer=CustomerData(email="c@example.com"),
            links=LINKS,
            sender=SENDER,
            orders=[order("N", datetime(2025, 1, 1))],
        )
    with pytest.raises(ValueError, match="exactly one of percent or amount"):
        CouponData("X", datetime(2025, 1, 1, tzinfo=UTC), percent=10, amount=Decimal(5))
