"""Filters that format money, numbers and dates (Babel) and order statuses for the customer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from mailengine.render.locales import DEFAULT_LOCALE, DEFAULT_TIMEZONE, formatting_locale
from mailengine.render.order_status import order_status

Filter = Callable[..., str]


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _customer(context: Context) -> Mapping[str, Any]:
    customer = context.get("customer")
    return customer if isinstance(customer, Mapping) else {}


def _locale_of(context: Context) -> Locale:
    """The customer's locale, in the language of the copy (`language`, set per mail)."""
    language = context.get("language")
    return formatting_locale(
        str(_customer(context).get("locale", DEFAULT_LOCALE)),
        language if isinstance(language, str) else None,
    )


def _require(value: Any) -> Any:
    """Make a missing value fail with its own name instead of a confusing type error."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise TypeError(f"{what} needs a number, got {value!r}") from exc


@pass_context
def money(context: Context, value: Any, currency: Any = None) -> str:
    """`{{ order.amount | money(order.currency) }}`: 1.234,50 € for de_DE, $1,234.50 for en_US."""
    amount = _decimal(_require(value), "money")
    code = _require(currency) or _customer(context).get("currency") or "EUR"
    return str(format_currency(amount, str(code), locale=_locale_of(context)))


@pass_context
def number(context: Context, value: Any, digits: int | None = None) -> str:
    """`{{ customer.orders_count | number }}` with the customer's grouping and decimal marks."""
    amount = _decimal(_require(value), "number")
    if digits is not None:
        amount = round(amount, digits)
    return str(format_decimal(amount, locale=_locale_of(context)))


@pass_context
def percent(context: Context, value: Any) -> str:
    """`{{ coupon.percent | percent }}`: 15 → "15 %" (de_DE) or "15%" (en_US)."""
    amount = _decimal(_require(value), "percent") / 100
    return str(format_percent(amount, locale=_locale_of(context)))


@pass_context
def format_date_filter(context: Context, value: Any, format: str = "long") -> str:
    """`{{ order.expected_ship_date | date }}`; a datetime is first moved to the customer's zone."""
    moment = _require(value)
    if isinstance(moment, datetime):
        moment = moment.astimezone(_zone_of(context)).date()
    if not isinstance(moment, date):
        raise TypeError(f"date needs a date, got {moment!r}")
    return _formatted_date(moment, format, _locale_of(context))


@lru_cache(maxsize=4096)
def _formatted_date(moment: date, format: str, locale: Locale) -> str:
    """Babel takes ~50 µs a date; a mailing repeats the same few dates many times. (Given
    the Locale, not its name: Babel would parse the name again for every date it formats.)"""
    return str(format_date(moment, format=format, locale=locale))


@pass_context
def format_datetime_filter(context: Context, value: Any, format: str = "medium") -> str:
    """`{{ order.placed_at | datetime }}` in the customer's time zone and locale."""
    moment = _require(value)
    if not isinstance(moment, datetime):
        raise TypeError(f"datetime needs a datetime, got {moment!r}")
    return str(
        format_datetime(moment, format=format, tzinfo=_zone_of(context), locale=_locale_of(context))
    )


@pass_context
def order_status_filter(context: Context, status: Any, language: str | None = None) -> str:
    """`{{ order.status | order_status }}` in the language of the copy (or the one named)."""
    copy = context.get("language")
    return order_status(status, language or (copy if isinstance(copy, str) else "en"))


def _zone_of(context: Context) -> ZoneInfo:
    return _zone(str(_customer(context).get("timezone", DEFAULT_TIMEZONE)))


FILTERS: dict[str, Filter] = {
    "money": money,
    "number": number,
    "percent": percent,
    "date": format_date_filter,
    "datetime": format_datetime_filter,
    "order_status": order_status_filter,
}
