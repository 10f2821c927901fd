"""Turn one import row (a CSV record or a JSON object) into a store record, or reject it
naming every problem the row has (each as `column: reason`), not only the first."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import datetime
from functools import lru_cache
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
# (column, converter, converter's further arguments): converter(value, column, *arguments)
ColumnSpec = tuple[str, Callable[..., Any], tuple[Any, ...]]
_PROFILE: tuple[ColumnSpec, ...] = (
    ("first_name", values.text, (100,)),
    ("last_name", values.text, (100,)),
    ("locale", values.locale_tag, ()),
    ("timezone", values.timezone_name, ()),
    ("birthday", values.a_date, ()),
    ("zip", values.text, (20,)),
    ("city", values.text, (100,)),
    ("country", values.country_code, ()),
)


def convert_columns(
    row: dict[str, Any],
    spec: tuple[ColumnSpec, ...],
    problems: list[str],
    required: AbstractSet[str] = frozenset(),
) -> dict[str, Any]:
    """Each column of `spec` converted (None where empty or refused); every refusal, and
    every empty `required` column, is added to `problems`."""
    found: dict[str, Any] = {}
    for column, convert, arguments in spec:
        try:
            value = convert(row.get(column), column, *arguments)
        except RowRejected as error:
            problems.extend(error.problems)
            value = None
        else:
            if value is None and column in required:
                problems.append(f"{column}: missing")
        found[column] = value
    return found


def email_address(value: Any, column: str) -> str:
    raw = values.text(value, column, 320)
    if raw is None:
        raise RowRejected(f"{column}: missing")
    try:
        return normalize_email(raw)
    except InvalidAddressError as error:
        raise RowRejected(f"{column}: {error}") from None


def customer_from_row(row: dict[str, Any], zone: ZoneInfo, now: datetime) -> CustomerUpsert:
    problems: list[str] = []
    fields = convert_columns(row, _customer_spec(zone), problems)
    email = fields.pop("email")
    birthday = fields["birthday"]
    if birthday is not None and not (1900 <= birthday.year <= now.year):
        problems.append(f"birthday: {birthday.isoformat()} is not a plausible birthday")
    attributes = _attributes(row, problems)
    consent = _consent(row, zone, now, problems)
    if problems:
        raise RowRejected(*_in_column_order(problems, CUSTOMER_COLUMNS))
    return CustomerUpsert(
        email=email,
        fields={key: value for key, value in fields.items() if value is not None},
        attributes=attributes,
        consent=consent,
    )


def order_from_row(
    row: dict[str, Any], zone: ZoneInfo, shop_currency: str, now: datetime
) -> OrderUpsert:
    problems: list[str] = []
    found = convert_columns(row, _order_spec(zone), problems, _REQUIRED_IN_ORDERS)
    currency = found["currency"]
    amount, base_amount = _amounts(row, currency, shop_currency, problems)
    placed_at = found["placed_at"]
    if placed_at is not None and placed_at > now and (placed_at - now).days > 1:
        problems.append(f"placed_at: {placed_at.isoformat()} is in the future")
    items = _items(row.get("items"), problems)
    if problems:
        raise RowRejected(*_in_column_order(problems, ORDER_COLUMNS))
    return OrderUpsert(
        external_id=found["external_id"],
        email=found["email"],
        channel=found["channel"] or "online",
        store_location=found["store_location"],
        amount_minor=amount,
        currency=currency or shop_currency,
        base_amount_minor=base_amount,
        status=found["status"] or "placed",
        placed_at=placed_at,
        shipped_at=found["shipped_at"],
        expected_ship_date=found["expected_ship_date"],
        items=items,
    )


_REQUIRED_IN_ORDERS = frozenset({"external_id", "placed_at"})


@lru_cache(maxsize=16)
def _customer_spec(zone: ZoneInfo) -> tuple[ColumnSpec, ...]:
    return (
        ("email", email_address, ()),
        *_PROFILE,
        ("created_at", values.a_datetime, (zone,)),
    )


@lru_cache(maxsize=16)
def _order_spec(zone: ZoneInfo) -> tuple[ColumnSpec, ...]:
    return (
        ("external_id", values.text, (100,)),
        ("email", email_address, ()),
        ("currency", values.currency_code, ()),
        ("placed_at", values.a_datetime, (zone,)),
        ("channel", values.choice, (ORDER_CHANNELS,)),
        ("status", values.choice, (ORDER_STATUSES,)),
        ("store_location", values.text, (100,)),
        ("shipped_at", values.a_datetime, (zone,)),
        ("expected_ship_date", values.a_date, ()),
    )


def _in_column_order(problems: list[str], columns: tuple[str, ...]) -> list[str]:
    """Problems as the columns come in the documentation (a stable sort: a column's own
    problems keep their order)."""

    def place(problem: str) -> int:
        column = problem.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
        return columns.index(column) if column in columns else len(columns)

    return sorted(problems, key=place)


def _amounts(
    row: dict[str, Any], currency: str | None, shop_currency: str, problems: list[str]
) -> tuple[Any, Any]:
    """The amount in the order's currency and in the shop's (`base_amount`)."""
    given = row.get("amount")
    amount = None
    try:
        if not _present(given):
            problems.append("amount: missing")
        elif currency is None and _present(row.get("currency")):
            # A currency code we cannot read: the amount can only be checked as a number.
            values.an_amount(given, "amount")
        else:
            amount = values.money_minor(given, "amount", currency or shop_currency)
    except RowRejected as error:
        problems.extend(error.problems)
    if currency is None or currency == shop_currency:
        return amount, amount
    if not _present(row.get("base_amount")):
        problems.append(
            f"base_amount: the order is in {currency} but the shop counts in "
            f"{shop_currency}; give base_amount, the amount in {shop_currency}"
        )
        return amount, None
    try:
        return amount, values.money_minor(row.get("base_amount"), "base_amount", shop_currency)
    except RowRejected as error:
        problems.extend(error.problems)
        return amount, None


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _attributes(row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    nested = row.get("attributes")
    if isinstance(nested, str) and nested.strip():
        try:
            nested = json.loads(nested)
        except json.JSONDecodeError:
            problems.append("attributes: not a JSON object")
            nested = None
    if nested not in (None, ""):
        if isinstance(nested, dict):
            attributes.update(nested)
        else:
            problems.append("attributes: must be an object of names and values")
    for key, value in row.items():
        if key.startswith(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX) :]
            try:
                cleaned = (
                    values.text(value, key, 1000, multiline=True)
                    if isinstance(value, str)
                    else value
                )
            except RowRejected as error:
                problems.extend(error.problems)
                continue
            if cleaned is not None:
                attributes[name] = cleaned
    for name in attributes:
        if not name.replace("_", "").isalnum() or not name.isascii():
            problems.append(f"attributes.{name}: names use letters, digits and _ only")
    if len(json.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
        problems.append(f"attributes: more than {MAX_ATTRIBUTES_BYTES} bytes")
    return attributes


def _consent(
    row: dict[str, Any], zone: ZoneInfo, now: datetime, problems: list[str]
) -> ConsentStatement | None:
    spec = (
        ("consent", values.choice, (CONSENT_STATUSES,)),
        ("consent_source", values.text, (60,)),
        ("consent_at", values.a_datetime, (zone,)),
        ("consent_ip", values.text, (45,)),
        ("consent_wording", values.lines, (2000,)),
    )
    found = convert_columns(row, spec, problems)
    status = found.pop("consent")
    if status is None:
        if not _present(row.get("consent")):
            for detail, value in found.items():
                if value is not None:
                    problems.append(f"{detail}: given without a consent status")
        return None
    return ConsentStatement(
        status=status,
        source=found["consent_source"] or "import",
        recorded_at=found["consent_at"] or now,
        ip=found["consent_ip"],
        wording=found["consent_wording"],
    )


def _items(raw: Any, problems: list[str]) -> list[dict[str, Any]]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            problems.append("items: not a JSON list of items")
            return []
    if not isinstance(raw, list):
        problems.append("items: must be a list of items")
        return []
    items = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            problems.append(f"items[{index}]: must be an object with name and quantity")
            continue
        name = None
        try:
            name = values.text(item.get("name"), f"items[{index}].name", 200)
            if name is None:
                problems.append(f"items[{index}].name: missing")
        except RowRejected as error:
            problems.extend(error.problems)
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            problems.append(f"items[{index}].quantity: must be a whole number of 1 or more")
        items.append({**item, "name": name, "quantity": quantity})
    return items
