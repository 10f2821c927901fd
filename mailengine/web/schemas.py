"""The API's request and answer bodies, and their conversion to store records.

Shapes and limits live in the models (and so in the OpenAPI document); the meaning checks
(known locale and time zone, money with the currency's decimals, plausible dates) are the
import's, so a row the import refuses is refused here too, as a 422 naming the field.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.importing.rows import customer_from_row, order_from_row
from mailengine.importing.values import RowRejected, unwanted_character
from mailengine.json_text import json_bytes
from mailengine.store.api_queries import Confirmation
from mailengine.store.records import CustomerUpsert, OrderUpsert

MAX_DATA_BYTES = 16_384
MAX_DATA_DEPTH = 16
# Types the store writes itself: through /v1/customers and /v1/orders, and the poll pages.
RESERVED_EVENT_TYPES = frozenset(
    {"customer.created", "order.placed", "consent.granted", "poll.answered"}
)
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNWANTED_IN_A_LINE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")


def _clean(value: str) -> str:
    """One line of text: no line breaks, tabs or other control characters (as the import)."""
    bad = _UNWANTED_IN_A_LINE.search(value)
    if bad is not None:
        raise ValueError(f"contains {_why(bad.group())}")
    return value


def _clean_lines(value: str) -> str:
    """Text that may run over several lines, without other control characters."""
    bad = _UNWANTED.search(value)
    if bad is not None:
        raise ValueError(f"contains {_why(bad.group())}")
    return value


def _why(character: str) -> str:
    if "\ud800" <= character <= "\udfff":
        return "an unpaired surrogate"
    return unwanted_character(character)


def _plausible_moment(value: datetime) -> datetime:
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return value


def _plausible_day(value: date) -> date:
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None


def checked_json_data(value: dict[str, Any]) -> dict[str, Any]:
    """`value` if it may be stored as free-form data; a ValueError says why not."""
    _check_json(value, 1)
    if len(json_bytes(value)) > MAX_DATA_BYTES:
        raise ValueError(f"is over {MAX_DATA_BYTES} bytes as JSON")
    return value


def _check_json(value: Any, depth: int) -> None:
    """Strings without control characters (keys on one line), finite numbers, and nesting
    at most MAX_DATA_DEPTH deep, checked before anything walks the value recursively."""
    if isinstance(value, str):
        _clean_lines(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict | list):
        if depth > MAX_DATA_DEPTH:
            raise ValueError(f"nests objects and lists more than {MAX_DATA_DEPTH} levels deep")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _clean(key)
            _check_json(item, depth + 1)


def _iso_moment(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also take a number as a Unix time."""
    if not isinstance(value, str) or not _ISO_MOMENT.match(value):
        raise ValueError("must be a date-time like 2025-03-01T14:30:00+01:00")
    return value


_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|$)")
_MOMENT_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "description": (
        "ISO 8601; without an offset it is read in the shop's time zone, a date alone is "
        "its midnight"
    ),
    "examples": ["2025-03-01T14:30:00+01:00"],
}
# What the server takes: a number, or a decimal in a string ("59.90", exact: preferred).
_MONEY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,3})?$", "examples": ["59.90"]},
        {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99},
    ],
    "description": "An amount with at most the currency's decimals; a string keeps it exact",
}
# The address as matched after trimming (addresses.py): one plain mailbox, at most 254.
_EMAIL_PATTERN = (
    r"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\s*$"
)

Text = Annotated[str, AfterValidator(_clean)]
Lines = Annotated[str, AfterValidator(_clean_lines)]
Moment = Annotated[
    datetime,
    BeforeValidator(_iso_moment),
    AfterValidator(_plausible_moment),
    WithJsonSchema(_MOMENT_SCHEMA),
]
Day = Annotated[date, AfterValidator(_plausible_day)]
JsonObject = Annotated[dict[str, Any], AfterValidator(checked_json_data)]
Email = Annotated[
    str,
    Field(min_length=3, max_length=254, examples=["ada@example.com"]),
    WithJsonSchema(
        {"type": "string", "format": "email", "pattern": _EMAIL_PATTERN, "maxLength": 254}
    ),
]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=15, decimal_places=3, allow_inf_nan=False),
    WithJsonSchema(_MONEY_SCHEMA),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(Body):
    status: Literal["granted", "withdrawn", "pending", "unknown"]
    source: Annotated[Text, Field(max_length=60)] | None = None
    at: Moment | None = None
    ip: Annotated[str, Field(max_length=45), AfterValidator(_ip)] | None = None
    wording: Annotated[Lines, Field(max_length=2000)] | None = None


class CustomerIn(Body):
    """A customer to insert or update by e-mail address; absent fields keep stored values."""

    email: Email
    first_name: Annotated[Text, Field(max_length=100)] | None = None
    last_name: Annotated[Text, Field(max_length=100)] | None = None
    locale: Annotated[Text, Field(max_length=35, examples=["de_DE"])] | None = None
    timezone: Annotated[Text, Field(max_length=64, examples=["Europe/Berlin"])] | None = None
    birthday: Day | None = None
    zip: Annotated[Text, Field(max_length=20)] | None = None
    city: Annotated[Text, Field(max_length=100)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    created_at: Moment | None = None
    attributes: JsonObject = Field(default_factory=dict)
    consent: ConsentIn | None = None


class OrderItemIn(Body):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    sku: Annotated[Text, Field(max_length=100)] | None = None
    unit_price: Money | None = None
    size: Annotated[Text, Field(max_length=20)] | None = None
    category: Annotated[Text, Field(max_length=60)] | None = None  # for reports per category


class OrderIn(Body):
    """An order to insert or update by its external id; a new one emits `order.placed`."""

    external_id: Annotated[Text, Field(min_length=1, max_length=100)]
    email: Email
    amount: Money
    placed_at: Moment
    channel: Literal["online", "store"] = "online"
    store_location: Annotated[Text, Field(max_length=100)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    base_amount: Money | None = None
    status: Literal["placed", "paid", "shipped", "delivered", "cancelled", "returned"] = "placed"
    shipped_at: Moment | None = None
    expected_ship_date: Day | None = None
    items: Annotated[list[OrderItemIn], Field(max_length=500)] = Field(default_factory=list)


class EventIn(Body):
    """A custom event (`newsletter.clicked`, `review.written`...) for a customer."""

    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,99}$", examples=["review.written"])]
    email: Email
    data: JsonObject = Field(default_factory=dict)
    occurred_at: Moment | None = None
    id: Annotated[str, Field(pattern=r"^[!-~]{1,100}$")] | None = Field(
        default=None, description="Your id of the event: the same id is stored once."
    )


class CustomerOut(BaseModel):
    customer_id: int
    created: bool
    consent: str
    confirmation: Confirmation


class OrderOut(BaseModel):
    customer_id: int
    external_id: str
    created: bool
    event_id: int | None


class EventOut(BaseModel):
    event_id: int
    customer_id: int
    duplicate: bool


class Problem(BaseModel):
    detail: str


def customer_record(body: CustomerIn, zone: ZoneInfo, now: datetime) -> CustomerUpsert:
    row: dict[str, Any] = body.model_dump(exclude={"consent"}, mode="json")
    if body.consent is not None:
        for key, value in body.consent.model_dump(mode="json").items():
            row["consent" if key == "status" else f"consent_{key}"] = value
        row["consent_source"] = row["consent_source"] or "api"  # not the import's default
    with _rejections():
        return customer_from_row(row, zone, now)


def order_record(body: OrderIn, zone: ZoneInfo, currency: str, now: datetime) -> OrderUpsert:
    row: dict[str, Any] = body.model_dump(mode="json", exclude_none=True)
    with _rejections():
        return order_from_row(row, zone, currency, now)


def event_type(body: EventIn) -> str:
    if body.type in RESERVED_EVENT_TYPES:
        raise field_error(("body", "type"), f"'{body.type}' is recorded by the store itself")
    return body.type


def event_email(body: EventIn) -> str:
    try:
        return normalize_email(body.email)
    except InvalidAddressError as error:
        raise field_error(("body", "email"), str(error)) from None


@contextmanager
def _rejections() -> Iterator[None]:
    """Turn the import's "column: reason" refusals into a 422 naming each API field."""
    try:
        yield
    except RowRejected as error:
        found = []
        for problem in error.problems:
            column, _, reason = problem.partition(": ")
            location = ("body", *_location(column))
            found.append({"loc": location, "msg": reason or problem, "type": "value_error"})
        raise RequestValidationError(found) from None


def _location(column: str) -> tuple[str, ...]:
    """Import column names as the API names them: consent_at -> consent.at."""
    if column.startswith("consent_"):
        return ("consent", column.removeprefix("consent_"))
    if column == "consent":
        return ("consent", "status")
    return tuple(column.replace("[", ".").replace("]", "").split("."))


def field_error(location: tuple[str, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])
