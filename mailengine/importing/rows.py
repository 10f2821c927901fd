"""Turn one import row (a CSV record or a JSON object) into a store record, or reject it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.importing import values
from mailengine.importing.values import RowRejected
from mailengine.store.models import CONSENT_STATUSES, ORDER_CHANNELS, ORDER_STATUSES
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert

CUSTOMER_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "birthday",
    "zip",
    "city",
    "country",
    "created_at",
    "consent",
    "consent_source",
    "consent_at",
    "consent_ip",
    "consent_wording",
    "attributes",
)
ORDER_COLUMNS = (
    "external_id",
    "email",
    "channel",
    "store_location",
    "amount",
    "currency",
    "base_amount",
    "status",
    "placed_at",
    "shipped_at",
    "expected_ship_date",
    "items",
)
ATTRIBUTE_PREFIX = "attributes."
MAX_ATTRIBUTES_BYTES = 16_384


def email_of(row: dict[str, Any]) -> str:
    raw = values.text(row.get("email"), "email", 320)
    if raw is None:
        raise RowRejected("email: missing")
    try:
        return normalize_email(raw)
    except InvalidAddressError as error:
        raise RowRejected(f"email: {error}") from None


def customer_from_row(row: dict[str, Any], zone: ZoneInfo, now: datetime) -> CustomerUpsert:
    email = email_of(row)
    fields: dict[str, Any] = {
        "first_name": values.text(row.get("first_name"), "first_name", 100),
        "last_name": values.text(row.get("last_name"), "last_name", 100),
        "locale": values.locale_tag(row.get("locale"), "locale"),
        "timezone": values.timezone_name(row.get("timezone"), "timezone"),
        "birthday": values.a_date(row.get("birthday"), "birthday"),
        "zip": values.text(row.get("zip"), "zip", 20),
        "city": values.text(row.get("city"), "city", 100),
        "country": values.country_code(row.get("country"), "country"),
        "created_at": values.a_datetime(row.get("created_at"), "created_at", zone),
    }
    birthday = fields["birthday"]
    if birthday is not None and not (1900 <= birthday.year <= now.year):
        raise RowRejected(f"birthday: {birthday.isoformat()} is not a plausible birthday")
    return CustomerUpsert(
        email=email,
        fields={key: value for key, value in fields.items() if value is not None},
        attributes=_attributes(row),
        consent=_consent(row, zone, now),
    )


def order_from_row(
    row: dict[str, Any], zone: ZoneInfo, shop_currency: str, now: datetime
) -> OrderUpsert:
    external_id = values.text(row.get("external_id"), "external_id", 100)
    if external_id is None:
        raise RowRejected("external_id: missing")
    email = email_of(row)
    currency = values.currency_code(row.get("currency"), "currency") or shop_currency
    amount = values.money_minor(row.get("amount"), "amount", currency)
    if amount is None:
        raise RowRejected("amount: missing")
    if currency == shop_currency:
        base_amount = amount
    else:
        converted = values.money_minor(row.get("base_amount"), "base_amount", shop_currency)
        if converted is None:
            raise RowRejected(
                f"base_amount: the order is in {currency} but the shop counts in "
                f"{shop_currency}; give base_amount, the amount in {shop_currency}"
            )
        base_amount = converted
    placed_at = values.a_datetime(row.get("placed_at"), "placed_at", zone)
    if placed_at is None:
        raise RowRejected("placed_at: missing")
    if placed_at > now.astimezone(placed_at.tzinfo) and (placed_at - now).days > 1:
        raise RowRejected(f"placed_at: {placed_at.isoformat()} is in the future")
    return OrderUpsert(
        external_id=external_id,
        email=email,
        channel=values.choice(row.get("channel"), "channel", ORDER_CHANNELS) or "online",
        store_location=values.text(row.get("store_location"), "store_location", 100),
        amount_minor=amount,
        currency=currency,
        base_amount_minor=base_amount,
        status=values.choice(row.get("status"), "status", ORDER_STATUSES) or "placed",
        placed_at=placed_at,
        shipped_at=values.a_datetime(row.get("shipped_at"), "shipped_at", zone),
        expected_ship_date=values.a_date(row.get("expected_ship_date"), "expected_ship_date"),
        items=_items(row.get("items")),
    )


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    nested = row.get("attributes")
    if isinstance(nested, str) and nested.strip():
        try:
            nested = json.loads(nested)
        except json.JSONDecodeError:
            raise RowRejected("attributes: not a JSON object") from None
    if nested not in (None, ""):
        if not isinstance(nested, dict):
            raise RowRejected("attributes: must be an object of names and values")
        attributes.update(nested)
    for key, value in row.items():
        if key.startswith(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX) :]
            cleaned = (
                values.text(value, key, 1000, multiline=True) if isinstance(value, str) else value
            )
            if cleaned is not None:
                attributes[name] = cleaned
    for name in attributes:
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise RowRejected(f"attributes.{name}: names use letters, digits and _ only")
    if len(json.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise RowRejected(f"attributes: more than {MAX_ATTRIBUTES_BYTES} bytes")
    return attributes


def _consent(row: dict[str, Any], zone: ZoneInfo, now: datetime) -> ConsentStatement | None:
    status = values.choice(row.get("consent"), "consent", CONSENT_STATUSES)
    if status is None:
        for detail in ("consent_source", "consent_at", "consent_ip", "consent_wording"):
            if values.text(row.get(detail), detail, 2000, multiline=True) is not None:
                raise RowRejected(f"{detail}: given without a consent status")
        return None
    recorded_at = values.a_datetime(row.get("consent_at"), "consent_at", zone) or now
    return ConsentStatement(
        status=status,
        source=values.text(row.get("consent_source"), "consent_source", 60) or "import",
        recorded_at=recorded_at,
        ip=values.text(row.get("consent_ip"), "consent_ip", 45),
        wording=values.text(row.get("consent_wording"), "consent_wording", 2000, multiline=True),
    )


def _items(raw: Any) -> list[dict[str, Any]]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise RowRejected("items: not a JSON list of items") from None
    if not isinstance(raw, list):
        raise RowRejected("items: must be a list of items")
    items = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise RowRejected(f"items[{index}]: must be an object with name and quantity")
        name = values.text(item.get("name"), f"items[{index}].name", 200)
        if name is None:
            raise RowRejected(f"items[{index}].name: missing")
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise RowRejected(f"items[{index}].quantity: must be a whole number of 1 or more")
        items.append({**item, "name": name, "quantity": quantity})
    return items
