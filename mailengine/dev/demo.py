"""Deterministic, realistic shop data: customers with sizes and consent, two years of orders.

The same seed and `now` always give the same data. About a fifth of the customers are heavy
spenders (the 80/20 rule), some have lapsed, some never ordered; a third of orders are in store.
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import Session

from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.events import record_event
from mailengine.store.orders import placed_order_data, upsert_orders
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert

RECENT = timedelta(days=1)
CONSENT_WORDING = (
    "Yes, send me news, offers and tips from Example Shop by e-mail. "
    "I can unsubscribe at any time with the link in every e-mail."
)


@dataclass(frozen=True)
class Place:
    city: str
    zip: str
    country: str
    locale: str
    timezone: str


PLACES = (
    Place("Berlin", "10115", "DE", "de_DE", "Europe/Berlin"),
    Place("Hamburg", "20095", "DE", "de_DE", "Europe/Berlin"),
    Place("München", "80331", "DE", "de_DE", "Europe/Berlin"),
    Place("Köln", "50667", "DE", "de_DE", "Europe/Berlin"),
    Place("Frankfurt am Main", "60311", "DE", "de_DE", "Europe/Berlin"),
    Place("Leipzig", "04109", "DE", "de_DE", "Europe/Berlin"),
    Place("Wien", "1010", "AT", "de_AT", "Europe/Vienna"),
    Place("Zürich", "8001", "CH", "de_CH", "Europe/Zurich"),
    Place("Paris", "75001", "FR", "fr_FR", "Europe/Paris"),
    Place("Lyon", "69001", "FR", "fr_FR", "Europe/Paris"),
    Place("Amsterdam", "1012", "NL", "nl_NL", "Europe/Amsterdam"),
    Place("London", "EC1A 1BB", "GB", "en_GB", "Europe/London"),
    Place("Manchester", "M1 1AE", "GB", "en_GB", "Europe/London"),
    Place("New York", "10001", "US", "en_US", "America/New_York"),
    Place("Chicago", "60601", "US", "en_US", "America/Chicago"),
    Place("San Francisco", "94103", "US", "en_US", "America/Los_Angeles"),
)
FIRST_NAMES = {
    "de": ("Anna", "Lena", "Jonas", "Lukas", "Mia", "Felix", "Sophie", "Paul", "Jürgen", "Özlem"),
    "fr": ("Camille", "Léa", "Hugo", "Chloé", "Louis", "Inès", "Théo", "Manon", "Zoé", "Éric"),
    "nl": ("Daan", "Sanne", "Bram", "Fleur", "Lotte", "Joris", "Femke", "Sem", "Noor", "Thijs"),
    "en": ("Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Grace", "Ethan", "Chloe", "Mason"),
}
LAST_NAMES = {
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann"),
    "fr": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    "nl": ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"),
    "en": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Taylor", "O'Brien", "Davies"),
}
STORES = ("Berlin Mitte", "Hamburg Alstertal", "München Maxvorstadt", "Köln Ehrenfeld")
SHIRT_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
WAISTS = ("28", "30", "32", "34", "36", "38", "40")
SHOE_SIZES = tuple(str(size) for size in range(36, 47))
# (sku, name, price in cents, sized by)
CATALOG = (
    ("TS-100", "Organic cotton T-shirt", 2490, "shirt_size"),
    ("TS-140", "Striped Breton shirt", 3990, "shirt_size"),
    ("SH-210", "Oxford button-down shirt", 5990, "shirt_size"),
    ("SW-300", "Merino crew-neck jumper", 8990, "shirt_size"),
    ("JK-410", "Waxed cotton jacket", 17900, "shirt_size"),
    ("JN-500", "Slim selvedge jeans", 9990, "waist"),
    ("JN-520", "Relaxed chinos", 7490, "waist"),
    ("SN-600", "Canvas sneakers", 6990, "shoe_size"),
    ("BT-640", "Leather Chelsea boots", 15900, "shoe_size"),
    ("SK-700", "Wool socks, 3 pairs", 1990, "shoe_size"),
    ("AC-800", "Leather belt", 3490, ""),
    ("AC-820", "Canvas tote bag", 1990, ""),
    ("AC-840", "Knitted beanie", 2490, ""),
)
CATEGORIES = ("shirts", "denim", "shoes", "outerwear", "accessories")


def default_now() -> datetime:
    """Today at midnight UTC: the same data all day for the same seed."""
    return datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)


def generate(
    customers: int, seed: int, now: datetime
) -> Iterator[tuple[CustomerUpsert, list[OrderUpsert]]]:
    """Yield each demo customer with their orders, oldest order first."""
    rng = random.Random(seed)
    order_number = 0
    for index in range(customers):
        customer, sizes, created = _customer(rng, index, now)
        orders = []
        for placed_at in _order_times(rng, created, now):
            order_number += 1
            orders.append(_order(rng, order_number, customer.email, sizes, placed_at, now))
        yield customer, orders


def load(
    database: Database, customers: int, seed: int, now: datetime, batch_size: int = 1000
) -> tuple[int, int]:
    """Store `customers` demo customers and their orders; returns (customers, orders) written."""
    written_customers = written_orders = 0
    batch: list[tuple[CustomerUpsert, list[OrderUpsert]]] = []

    def flush() -> None:
        with database.transaction() as session:
            ids = upsert_customers(session, [customer for customer, _ in batch], now).customer_ids
            upsert_orders(session, [order for _, orders in batch for order in orders], now)
            _record_todays_events(session, batch, ids, now)

    for pair in generate(customers, seed, now):
        batch.append(pair)
        written_customers += 1
        written_orders += len(pair[1])
        if len(batch) >= batch_size:
            flush()
            batch = []
    if batch:
        flush()
    return written_customers, written_orders


def _record_todays_events(
    session: Session,
    batch: list[tuple[CustomerUpsert, list[OrderUpsert]]],
    ids: dict[str, int],
    now: datetime,
) -> None:
    """Signups and orders of the last day arrive as events, as the shop's API would send them."""
    since = now - RECENT
    for customer, orders in batch:
        created = customer.fields["created_at"]
        if created >= since:
            record_event(session, ids[customer.email], "customer.created", {}, created, now)
        for order in orders:
            if order.placed_at >= since:
                data = placed_order_data(order)
                record_event(
                    session, ids[customer.email], "order.placed", data, order.placed_at, now
                )


def _customer(
    rng: random.Random, index: int, now: datetime
) -> tuple[CustomerUpsert, dict[str, str], datetime]:
    place = rng.choice(PLACES)
    language = place.locale[:2] if place.locale[:2] in FIRST_NAMES else "en"
    first = rng.choice(FIRST_NAMES[language])
    last = rng.choice(LAST_NAMES[language])
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode() or "customer"
    email = f"{local}.{index}@{rng.choice(('example.com', 'example.org', 'example.net'))}"
    if rng.random() < 0.03:  # today's signups
        created = now - timedelta(minutes=rng.randint(1, 1439))
    else:
        created = now - timedelta(days=rng.uniform(1, 730), minutes=rng.randint(0, 1439))
    sizes = {
        "shirt_size": rng.choice(SHIRT_SIZES),
        "waist": rng.choice(WAISTS),
        "shoe_size": rng.choice(SHOE_SIZES),
    }
    birthday = date(now.year - rng.randint(18, 75), rng.randint(1, 12), rng.randint(1, 28))
    draw = rng.random()
    consent = None
    if draw < 0.93:
        status = "granted" if draw < 0.80 else "withdrawn"
        consent = ConsentStatement(
            status=status,
            source=rng.choice(("checkout", "newsletter-form", "store-signup")),
            recorded_at=created,
            ip=f"203.0.113.{rng.randint(1, 254)}",
            wording=CONSENT_WORDING,
        )
    customer = CustomerUpsert(
        email=email,
        fields={
            "first_name": first,
            "last_name": last,
            "locale": place.locale,
            "timezone": place.timezone,
            "birthday": birthday,
            "zip": place.zip,
            "city": place.city,
            "country": place.country,
            "created_at": created,
        },
        attributes={**sizes, "favourite_category": rng.choice(CATEGORIES)},
        consent=consent,
    )
    return customer, sizes, created


def _order_times(rng: random.Random, created: datetime, now: datetime) -> list[datetime]:
    """Heavy 20 %, regular 45 %, one-time 15 %, never 20 %; a quarter of buyers have lapsed."""
    draw = rng.random()
    if draw < 0.20:
        count = rng.randint(10, 25)
    elif draw < 0.65:
        count = rng.randint(2, 6)
    elif draw < 0.80:
        count = 1
    else:
        return []
    if now - created < timedelta(days=2):
        count = min(count, 1)  # a brand-new customer has not had time for more
    span_end = now
    if rng.random() < 0.25:
        span_end = now - timedelta(days=rng.uniform(95, 400))
    if span_end <= created:
        span_end = now
    seconds = (span_end - created).total_seconds()
    return sorted(created + timedelta(seconds=rng.uniform(0, seconds)) for _ in range(count))


def _order(
    rng: random.Random,
    number: int,
    email: str,
    sizes: dict[str, str],
    placed_at: datetime,
    now: datetime,
) -> OrderUpsert:
    in_store = rng.random() < 0.30
    items: list[dict[str, Any]] = []
    total = 0
    for sku, name, price, sized_by in rng.sample(CATALOG, rng.randint(1, 4)):
        quantity = 1 if rng.random() < 0.85 else 2
        item: dict[str, Any] = {
            "sku": sku,
            "name": name,
            "quantity": quantity,
            "unit_price": str(Decimal(price).scaleb(-2)),
        }
        if sized_by:
            item["size"] = sizes[sized_by]
        items.append(item)
        total += price * quantity
    age = now - placed_at
    status, shipped_at, expected = _fulfilment(rng, in_store, placed_at, age)
    return OrderUpsert(
        external_id=f"{'S' if in_store else 'W'}{number:08d}",
        email=email,
        channel="store" if in_store else "online",
        store_location=rng.choice(STORES) if in_store else None,
        amount_minor=total,
        currency="EUR",
        base_amount_minor=total,
        status=status,
        items=items,
        placed_at=placed_at,
        shipped_at=shipped_at,
        expected_ship_date=expected,
    )


def _fulfilment(
    rng: random.Random, in_store: bool, placed_at: datetime, age: timedelta
) -> tuple[str, datetime | None, date | None]:
    if in_store:
        return ("returned" if rng.random() < 0.02 else "delivered"), None, None
    draw = rng.random()
    if draw < 0.02:
        return "cancelled", None, None
    expected = _add_business_days(placed_at.date(), 2)
    shipped = placed_at + timedelta(days=rng.uniform(0.5, 2.5))
    if age < timedelta(days=1):
        return "placed", None, expected
    if age < timedelta(days=3):
        return "paid", None, expected
    if age < timedelta(days=7):
        return "shipped", shipped, expected
    return ("returned" if draw < 0.05 else "delivered"), shipped, expected


def _add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def write_csv(customers: int, seed: int, now: datetime, folder: Path) -> tuple[Path, Path]:
    """Write customers.csv and orders.csv in the import format (for trying `import`, benches)."""
    folder.mkdir(parents=True, exist_ok=True)
    customer_path, order_path = folder / "customers.csv", folder / "orders.csv"
    customer_columns = [
        "email", "first_name", "last_name", "locale", "timezone", "birthday", "zip", "city",
        "country", "created_at", "consent", "consent_source", "consent_at", "consent_ip",
        "consent_wording", "attributes.shirt_size", "attributes.waist", "attributes.shoe_size",
        "attributes.favourite_category",
    ]  # fmt: skip
    order_columns = [
        "external_id", "email", "channel", "store_location", "amount", "currency", "status",
        "placed_at", "shipped_at", "expected_ship_date", "items",
    ]  # fmt: skip
    with (
        customer_path.open("w", newline="", encoding="utf-8") as customer_file,
        order_path.open("w", newline="", encoding="utf-8") as order_file,
    ):
        customer_writer = csv.writer(customer_file)
        order_writer = csv.writer(order_file)
        customer_writer.writerow(customer_columns)
        order_writer.writerow(order_columns)
        for customer, orders in generate(customers, seed, now):
            customer_writer.writerow(_customer_cells(customer))
            for order in orders:
                order_writer.writerow(_order_cells(order))
    return customer_path, order_path


def _iso(value: date | datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _customer_cells(customer: CustomerUpsert) -> list[str]:
    fields, consent = customer.fields, customer.consent
    return [
        customer.email,
        fields["first_name"],
        fields["last_name"],
        fields["locale"],
        fields["timezone"],
        _iso(fields["birthday"]),
        fields["zip"],
        fields["city"],
        fields["country"],
        _iso(fields["created_at"]),
        consent.status if consent else "",
        consent.source if consent else "",
        _iso(consent.recorded_at) if consent else "",
        (consent.ip or "") if consent else "",
        (consent.wording or "") if consent else "",
        *(str(customer.attributes[key]) for key in ("shirt_size", "waist", "shoe_size")),
        str(customer.attributes["favourite_category"]),
    ]


def _order_cells(order: OrderUpsert) -> list[str]:
    return [
        order.external_id,
        order.email,
        order.channel,
        order.store_location or "",
        str(Decimal(order.amount_minor).scaleb(-2)),
        order.currency,
        order.status,
        _iso(order.placed_at),
        _iso(order.shipped_at),
        _iso(order.expected_ship_date),
        json.dumps(order.items, ensure_ascii=False),
    ]
