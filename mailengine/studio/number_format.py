"""Numbers as the studio shows them: counts, money and rates in the shop's locale."""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_currency, format_decimal

from mailengine.money import to_major

DASH = "–"


@dataclass(frozen=True)
class NumberFormat:
    locale: str
    currency: str

    def count(self, value: float) -> str:
        return str(format_decimal(value, format="#,##0", locale=self.locale))

    def money(self, minor: float | None) -> str:
        if minor is None:
            return DASH
        return str(
            format_currency(to_major(minor, self.currency), self.currency, locale=self.locale)
        )

    def money_axis(self, minor: float) -> str:
        """Without needless decimals, for chart axes: €1,500, €2.5."""
        major = to_major(minor, self.currency)
        return str(
            format_currency(
                major, self.currency, format="¤#,##0.##", locale=self.locale, currency_digits=False
            )
        )

    def percent(self, fraction: float | None, signed: bool = False) -> str:
        """0.0512 -> '5.1 %' ('+5.1 %' when signed)."""
        if fraction is None:
            return DASH
        return f"{fraction * 100:{'+' if signed else ''}.1f} %"

    def points(self, fraction: float) -> str:
        """A difference of two rates in percentage points: 0.021 -> '+2.1 pts'."""
        return f"{fraction * 100:+.1f} pts"

    def share(self, part: int, whole: int) -> str:
        """'54 (45.0 %)' of `whole`; no share when the whole is 0."""
        if not whole:
            return self.count(part)
        return f"{self.count(part)} ({self.percent(part / whole)})"
