"""Converters from the text of an import cell to typed values; each failure says what was wrong."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision

from mailengine.errors import quoted


class RowRejected(ValueError):
    """One import row is unusable: each problem names its column and the reason."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def text(value: Any, column: str, max_length: int, *, multiline: bool = False) -> str | None:
    """Trimmed text, or None when empty. Only `multiline` fields may hold line breaks and
    tabs: a line break in a name would end up in a mail header."""
    if not value:
        return None
    cleaned = (value if value.__class__ is str else str(value)).strip()
    if not cleaned:
        return None
    bad = (_UNWANTED if multiline else _UNWANTED_IN_A_LINE).search(cleaned)
    if bad is not None:
        raise RowRejected(f"{column}: {unwanted_character(bad.group())}")
    if len(cleaned) > max_length:
        raise RowRejected(f"{column}: {len(cleaned)} characters, at most {max_length}")
    return cleaned


def lines(value: Any, column: str, max_length: int) -> str | None:
    """Trimmed text that may run over several lines (no other control characters)."""
    return text(value, column, max_length, multiline=True)


def choice(value: Any, column: str, allowed: tuple[str, ...]) -> str | None:
    word = text(value, column, 40)
    if word is None:
        return None
    word = word.lower()
    if word not in allowed:
        raise RowRejected(f"{column}: {quoted(word)} is not one of {', '.join(allowed)}")
    return word


def a_date(value: Any, column: str) -> date | None:
    raw = text(value, column, 40)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RowRejected(f"{column}: {quoted(raw)} is not a date like 1990-04-23") from None


def a_datetime(value: Any, column: str, zone: ZoneInfo) -> datetime | None:
    """ISO 8601 date-time; without an offset it is read in the shop's time zone."""
    raw = text(value, column, 60)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(raw), time())
        except ValueError:
            raise RowRejected(
                f"{column}: {quoted(raw)} is not a date-time like 2025-03-01T14:30:00+01:00"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def money_minor(value: Any, column: str, currency: str) -> int | None:
    """'59.90' in EUR -> 5990; refuses more decimals than the currency has, and negatives."""
    found = an_amount(value, column)
    if found is None:
        return None
    raw, number = found
    digits = get_currency_precision(currency)
    scaled = number.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise RowRejected(f"{column}: {quoted(raw)} has more than {digits} decimals for {currency}")
    return int(scaled)


def an_amount(value: Any, column: str) -> tuple[str, Decimal] | None:
    """An amount of zero or more (its text, its value), whatever the currency."""
    raw = text(value, column, 30)
    if raw is None:
        return None
    try:
        found = Decimal(raw)
    except InvalidOperation:
        raise RowRejected(f"{column}: {quoted(raw)} is not an amount like 59.90") from None
    if not found.is_finite() or found < 0:
        raise RowRejected(f"{column}: {quoted(raw)} must be zero or more")
    return raw, found


def currency_code(value: Any, column: str) -> str | None:
    raw = text(value, column, 3)
    if raw is None:
        return None
    code = raw.upper()
    if len(code) != 3 or not code.isalpha():
        raise RowRejected(f"{column}: {quoted(raw)} is not a currency code like EUR")
    return code


def locale_tag(value: Any, column: str) -> str | None:
    raw = text(value, column, 35)
    return None if raw is None else _known_locale(raw, column)


@lru_cache(maxsize=1024)
def _known_locale(raw: str, column: str) -> str:
    try:
        return str(Locale.parse(raw.replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        raise RowRejected(f"{column}: {quoted(raw)} is not a known locale like de_DE") from None


def timezone_name(value: Any, column: str) -> str | None:
    raw = text(value, column, 64)
    return None if raw is None else _known_zone(raw, column)


@lru_cache(maxsize=1024)
def _known_zone(raw: str, column: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowRejected(
            f"{column}: {quoted(raw)} is not a time zone like Europe/Berlin"
        ) from None
    return raw


def country_code(value: Any, column: str) -> str | None:
    raw = text(value, column, 2)
    if raw is None:
        return None
    if len(raw) != 2 or not raw.isalpha():
        raise RowRejected(f"{column}: {quoted(raw)} is not a two-letter country code like DE")
    return raw.upper()


# Control characters, and undecodable bytes (lone surrogates: the reader uses surrogateescape).
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\udc80-\udcff]")
_UNWANTED_IN_A_LINE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\udc80-\udcff]")


def unwanted_character(character: str) -> str:
    """Why a character found by one of the patterns above is refused."""
    if character >= "\udc80":
        return "not valid UTF-8 text"
    if character in "\r\n\x85\u2028\u2029":
        return "a line break, where one line of text is expected"
    if character == "\t":
        return "a tab, where one line of text is expected"
    return "control characters"
