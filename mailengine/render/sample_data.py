"""Varied sample customers for previews, template checks and benchmarks.

They cover what real data throws at templates: four locales and several currencies, missing
names, cities and sizes, no orders or many, and names with `<`, `&`, quotes, line breaks,
non-ASCII letters and emojis; predicted figures or none yet. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from mailengine.render.context import (
    CouponData,
    CustomerData,
    LinksData,
    OrderData,
    OrderItemData,
    RenderContext,
    SenderData,
    TicketData,
    build_context,
)
from mailengine.render.customer_predictions import PredictionsData

LOCALES = (("de_DE", "Europe/Berlin"), ("en_US", "America/New_York"), ("en_GB", "Europe/London"),
           ("fr_FR", "Europe/Paris"))  # fmt: skip
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
FIRST_NAMES = (
    "Anna", "Jürgen", "Zoë", "François", "O'Brien", 'Ana "Nani"', "<script>alert(1)</script>",
    "Tom & Jerry", "Łukasz", "Søren", "李雷", "Renée 🎉", "Mary-Jane", "D'Artagnan", "Ünal",
    "Line\r\nBreak", "  ", "Ωmega", "Nguyễn", "José",
)  # fmt: skip
LAST_NAMES = ("Müller", "Smith", "O'Neil", "<b>Bold</b>", "Dupont & Fils", "Иванова", "")
CITIES = ("Berlin", "München", "London", "Paris", "New York", "Saint-Étienne", "Köln <Süd>",
          "Bath & Wells")  # fmt: skip
SIZES = ("XS", "S", "M", "L", "XL", "38", "40/32")
PRODUCTS = (
    ("SHIRT-OX", "Oxford shirt"), ("JEANS-SV", "Selvedge jeans"), ("KNIT-MER", "Merino sweater"),
    ("BOOT-LEA", "Leather boots"), ("TEE-ORG", "Organic T-shirt <2-pack>"),
    ("SCARF-WO", "Wool scarf \"Nordic\""), ("SOCK-3", "Socks & more 🧦"),
)  # fmt: skip
TICKET_SUBJECTS = ("Where is my order?", "Size exchange <urgent>", 'Frage zu "Rückgabe"',
                   "Hi\r\nthere")  # fmt: skip
# Every status an order can have, and one a shop system made up.
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned", "on_hold")

SENDER = SenderData(
    name="Fjord & Field",
    address="hello@fjord-field.example",
    postal_address="Fjord & Field GmbH\nMarkt 1\n10115 Berlin\nGermany",
)


def sample_context(rng: random.Random, number: int, now: datetime) -> RenderContext:
    """One varied customer context; `number` makes the email address unique."""
    locale, timezone = rng.choice(LOCALES)
    currency = rng.choice(CURRENCIES)
    first = rng.choice(FIRST_NAMES) if rng.random() < 0.85 else None
    attributes: dict[str, str | int | list[str] | None] = {}
    if rng.random() < 0.6:
        attributes["shirt_size"] = rng.choice(SIZES)
    if rng.random() < 0.4:
        attributes["waist"] = rng.choice(("30", "32", "34", "36"))
    if rng.random() < 0.4:
        attributes["shoe_size"] = rng.choice(("38", "41", "43.5", "9 US"))
    if rng.random() < 0.3:
        attributes["preferences"] = rng.sample(["linen", "wool", "denim", "outdoor"], 2)
    orders = [_order(rng, now, currency, index) for index in range(rng.choice((0, 0, 1, 1, 2, 5)))]
    customer = CustomerData(
        email=f"customer{number}@example.com",
        locale=locale if rng.random() < 0.95 else "xx-unknown",
        timezone=timezone if rng.random() < 0.95 else "Not/AZone",
        currency=currency,
        first_name=first,
        last_name=rng.choice(LAST_NAMES) if rng.random() < 0.7 else None,
        birthday=date(1960 + rng.randrange(45), rng.randrange(1, 13), rng.randrange(1, 29))
        if rng.random() < 0.7
        else None,
        city=rng.choice(CITIES) if rng.random() < 0.6 else None,
        zip=f"{rng.randrange(10000, 99999)}" if rng.random() < 0.6 else None,
        country=rng.choice(("DE", "US", "GB", "FR")) if rng.random() < 0.8 else None,
        attributes=attributes,
        orders_count=len(orders) + rng.randrange(0, 20),
        total_spent=sum((o.amount for o in orders), Decimal("0.00")) + rng.randrange(0, 5000),
        predictions=_predictions(number, now),
    )
    coupon = _coupon(rng, now, currency) if rng.random() < 0.6 else None
    subject = rng.choice(TICKET_SUBJECTS)
    ticket = TicketData(f"T-{1000 + number}", subject) if rng.random() < 0.7 else None
    links = LinksData(
        unsubscribe_url=f"https://fjord-field.example/u/{number}?t=a&b=c",
        preferences_url=f"https://fjord-field.example/p/{number}",
        shop_url="https://fjord-field.example",
        view_in_browser_url=(
            f"https://fjord-field.example/v/{number}" if rng.random() < 0.5 else None
        ),
        confirm_url=f"https://fjord-field.example/confirm/{number}?t=a&b=c",
    )
    # The order a mail is about: any of them, not only the newest (an order recorded late).
    about = rng.choice(orders) if orders and rng.random() < 0.8 else None
    return build_context(
        customer=customer,
        links=links,
        sender=SENDER,
        orders=orders,
        order=about,
        coupon=coupon,
        ticket=ticket,
    )


def sample_contexts(
    count: int, *, seed: int = 1, now: datetime | None = None
) -> Iterator[RenderContext]:
    """`count` varied customer contexts, the same ones for the same seed."""
    rng = random.Random(seed)
    moment = now or datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    for number in range(count):
        yield sample_context(rng, number, moment)


def _predictions(number: int, now: datetime) -> PredictionsData | None:
    """Predicted figures for most sample customers, some without a next order, value or
    hour; from a generator of their own, so the rest of each sample stays as it was."""
    rng = random.Random(number * 7919 + 13)
    if rng.random() < 0.25:
        return None  # not predicted yet
    active = round(rng.random(), 3)
    return PredictionsData(
        p_active=active,
        churn_risk=round(1 - active, 3),
        expected_orders_90d=round(rng.random() * 4, 2),
        predicted_next_order_at=(
            now + timedelta(days=rng.randrange(-30, 90), hours=rng.randrange(24))
            if rng.random() < 0.8
            else None
        ),
        predicted_value_365d=(
            Decimal(rng.randrange(0, 400_000)) / 100 if rng.random() < 0.9 else None
        ),
        best_send_hour=rng.randrange(24) if rng.random() < 0.7 else None,
    )


def _coupon(rng: random.Random, now: datetime, currency: str) -> CouponData:
    code = f"WB-{rng.randrange(16**8):08X}"
    expires = now + timedelta(days=rng.randrange(7, 60))
    if rng.random() < 0.5:
        return CouponData(code=code, expires_at=expires, percent=rng.choice((10, 15, 20)))
    return CouponData(
        code=code,
        expires_at=expires,
        amount=Decimal(rng.choice(("5", "10", "25.50", "1234.5"))),
        currency=currency if rng.random() < 0.5 else None,
    )


def _order(rng: random.Random, now: datetime, currency: str, index: int) -> OrderData:
    placed = now - timedelta(days=rng.randrange(1, 400), minutes=rng.randrange(1440))
    items = []
    for _ in range(rng.randrange(1, 5)):
        sku, name = rng.choice(PRODUCTS)
        items.append(
            OrderItemData(
                sku=sku,
                name=name,
                quantity=rng.randrange(1, 4),
                unit_price=Decimal(rng.randrange(500, 150000)) / 100,
                size=rng.choice(SIZES) if rng.random() < 0.7 else None,
                image_url=f"https://cdn.fjord-field.example/p/{sku}.jpg?w=240&h=240"
                if rng.random() < 0.7
                else None,
            )
        )
    status = rng.choice(STATUSES)
    return OrderData(
        external_id=f"FF-{100000 + index * 7 + rng.randrange(7)}",
        channel="store" if rng.random() < 0.3 else "online",
        placed_at=placed,
        status=status,
        amount=sum((item.unit_price * item.quantity for item in items), Decimal("0.00")),
        currency=currency,
        items=items,
        shipped_at=placed + timedelta(days=2) if status in ("shipped", "delivered") else None,
        expected_ship_date=(placed + timedelta(days=3)).date()
        if status in ("placed", "paid") and rng.random() < 0.8
        else None,
    )
