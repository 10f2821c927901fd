"""Money in minor units (cents) and back, by each currency's number of decimals."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from babel.numbers import get_currency_precision


@cache
def decimals(currency: str) -> int:
    """Babel looks the currency up in its data on every call; once per currency is enough."""
    return int(get_currency_precision(currency))


def to_major(minor: int | float, currency: str) -> Decimal:
    """5990 EUR cents -> Decimal('59.90')."""
    digits = decimals(currency)
    return Decimal(str(minor)).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal('59.90') EUR -> 5990."""
    return int(amount.scaleb(decimals(currency)))
