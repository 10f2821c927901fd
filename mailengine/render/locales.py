"""A customer's locale and time zone made safe to use: unknown ones fall back to defaults.

Customer data comes from imports and shop systems: `de-DE`, `de`, `xx-unknown`, `Not/AZone`.
Rendering one mail must not fail over them, so an unknown locale is read as en_US and an
unknown zone as UTC.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError, localedata

DEFAULT_LOCALE = "en_US"
DEFAULT_TIMEZONE = "UTC"


@lru_cache(maxsize=1024)
def normalise_locale(value: str, default: str = DEFAULT_LOCALE) -> Locale:
    """`de-DE`, `de_DE` or `de` as a Babel locale; an unknown one falls back to `default`."""
    text = value.strip().replace("-", "_")
    try:
        return Locale.parse(text or default)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(default)


@lru_cache(maxsize=1024)
def normalise_timezone(value: str) -> str:
    """An IANA zone name; an unknown one falls back to UTC rather than failing every send."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return value


@lru_cache(maxsize=1024)
def formatting_locale(customer_locale: str, language: str | None) -> Locale:
    """The locale dates and numbers are written in, in copy of `language` (`en` when a Dutch
    customer's mail fell back to the shop's English): the customer's own when the languages
    agree; else that language in the customer's country where Babel knows it (`en_NL`: English
    month names, Dutch conventions), else the language alone. Never Dutch month names in
    English sentences."""
    customer = normalise_locale(customer_locale)
    if not language:
        return customer
    copy = normalise_locale(language, str(customer))
    if copy.language == customer.language:
        return customer
    if customer.territory:
        regional = f"{copy.language}_{customer.territory}"
        if localedata.exists(regional):
            return Locale.parse(regional)
    return copy
