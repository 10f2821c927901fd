"""Money, numbers and dates are formatted for each customer's locale, currency and time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mailengine.render import CustomerData, LinksData, SenderData, TemplateLibrary, build_context
from mailengine.render.environment import html_environment, text_environment
from mailengine.render.order_status import LABELS, order_status
from mailengine.store.models import ORDER_STATUSES


def render(source: str, locale: str, *, currency: str = "EUR", timezone: str = "UTC") -> str:
    values = build_context(
        customer=CustomerData(
            email="f@example.com", locale=locale, currency=currency, timezone=timezone
        ),
        links=LinksData("https://x.example/u", "https://x.example/p", "https://x.example"),
        sender=SenderData("Shop", "shop@x.example", "Street 1"),
    )
    return text_environment().from_string(source).render(
        {**values, "amount": Decimal("1234.5"), "day": date(2025, 3, 3),
         "moment": datetime(2025, 3, 3, 23, 30, tzinfo=UTC)}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("de_DE", "EUR", "1.234,50\xa0€"),
        ("en_US", "USD", "$1,234.50"),
        ("en_GB", "GBP", "£1,234.50"),
        ("fr_FR", "EUR", "1\u202f234,50\xa0€"),
        ("de-DE", "USD", "1.234,50\xa0$"),
    ],
)
def test_money_follows_locale_and_currency(locale: str, currency: str, expected: str) -> None:
    assert render(f"{{{{ amount | money('{currency}') }}}}", locale) == expected


def test_money_defaults_to_the_customers_currency() -> None:
    assert render("{{ amount | money }}", "en_US", currency="USD") == "$1,234.50"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("de_DE", "3. März 2025"), ("en_US", "March 3, 2025"), ("fr_FR", "3 mars 2025")],
)
def test_dates_are_written_the_customers_way(locale: str, expected: str) -> None:
    assert render("{{ day | date }}", locale) == expected


def test_datetimes_move_to_the_customers_time_zone() -> None:
    # 23:30 UTC on 3 March is already 4 March in Berlin.
    assert render("{{ moment | date }}", "de_DE", timezone="Europe/Berlin") == "4. März 2025"
    assert render("{{ moment | datetime('short') }}", "de_DE", timezone="Europe/Berlin") == (
        "04.03.25, 00:30"
    )
    assert render("{{ moment | date('short') }}", "en_US", timezone="America/New_York") == (
        "3/3/25"
    )


def test_numbers_and_percentages() -> None:
    assert render("{{ 1234567 | number }}", "de_DE") == "1.234.567"
    assert render("{{ 15 | percent }}", "en_US") == "15%"
    assert render("{{ 15 | percent }}", "de_DE") == "15\xa0%"


def test_unknown_locale_and_zone_fall_back_instead_of_failing_the_send() -> None:
    assert render("{{ amount | money('USD') }}", "xx_NOPE", timezone="Mars/Olympus") == (
        "$1,234.50"
    )


def test_formatting_a_missing_value_names_it() -> None:
    with pytest.raises(Exception, match="nope"):
        html_environment().from_string("{{ customer.nope | money }}").render(
            customer={"locale": "de_DE"}
        )


def test_shipped_order_summary_shows_localised_money_and_dates(library: TemplateLibrary) -> None:
    from mailengine.render import OrderData, OrderItemData

    order = OrderData(
        external_id="FF-9",
        channel="online",
        placed_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
        status="paid",
        amount=Decimal("1234.50"),
        currency="EUR",
        items=[OrderItemData("S", "Hemd", 1, Decimal("1234.50"), size="L")],
        expected_ship_date=date(2025, 3, 3),
    )
    context = build_context(
        customer=CustomerData(email="d@example.com", locale="de_DE", timezone="Europe/Berlin"),
        links=LinksData("https://x.example/u", "https://x.example/p", "https://x.example"),
        sender=SenderData("Shop", "shop@x.example", "Street 1"),
        orders=[order],
        order=order,
    )
    email = library.render("thank-you/order-confirmed", context, subject="Danke")
    assert "Größe L · Menge 1 · 1.234,50\xa0€" in email.text
    assert "Voraussichtlicher Versand am 3. März 2025." in email.text
    assert "Status: Bezahlt" in email.text


def test_every_order_status_has_a_label_in_each_language() -> None:
    for language, labels in LABELS.items():
        assert set(labels) == set(ORDER_STATUSES), language
        for status in ORDER_STATUSES:
            assert order_status(status, language) == labels[status] != status
    assert order_status("shipped") == "On its way"
    assert order_status("shipped", "de-DE") == "Unterwegs"
    assert order_status("paid", "xx") == "Paid"  # a language without labels: English
    assert order_status("on_hold") == "On hold"  # a shop system's own status: plain words


@pytest.mark.parametrize("status", ORDER_STATUSES)
def test_the_order_summary_shows_every_status_as_words_and_never_in_red(
    library: TemplateLibrary, status: str
) -> None:
    from mailengine.render import OrderData, OrderItemData

    order = OrderData(
        external_id="FF-10",
        channel="online",
        placed_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
        status=status,
        amount=Decimal("20"),
        currency="EUR",
        items=[OrderItemData("S", "Shirt", 1, Decimal("20"))],
    )
    context = build_context(
        customer=CustomerData(email="d@example.com", locale="en_GB"),
        links=LinksData("https://x.example/u", "https://x.example/p", "https://x.example"),
        sender=SenderData("Shop", "shop@x.example", "Street 1"),
        orders=[order],
        order=order,
    )
    email = library.render("thank-you/order-confirmed", context, subject="Thanks")
    assert f"Status: {LABELS['en'][status]}" in email.text
    assert f"Status: {status}" not in email.text
    assert "#c8553d" not in email.html.lower()
