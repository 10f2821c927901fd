"""`customer.predictions` in a rendered mail: stored figures, read at send time, rendered.

The next order is a date in the customer's own zone, the value money in the shop currency;
a customer not predicted yet has None, and a template that tests for it renders for both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailengine.config import Settings
from mailengine.outbound.composer import Composer
from mailengine.render.context import CustomerData, LinksData, SenderData, build_context
from mailengine.render.customer_predictions import PredictionsData
from mailengine.render.library import TemplateLibrary
from mailengine.store.customers import upsert_customers
from mailengine.store.database import Database
from mailengine.store.predictions import CustomerPrediction, write_predictions
from mailengine.store.recipients import load_recipients
from mailengine.store.records import CustomerUpsert
from tests.conftest import NOW
from tests.render.conftest import WriteTemplate

TEMPLATE = """<mjml><mj-body><mj-section><mj-column><mj-text>
{% if customer.predictions %}
risk {{ (customer.predictions.churn_risk * 100) | round | int }}%,
active {{ customer.predictions.p_active }},
{{ customer.predictions.expected_orders_90d }} orders in 90 days,
{% if customer.predictions.predicted_next_order_at %}next order {{ customer.predictions.predicted_next_order_at | date }},{% endif %}
{% if customer.predictions.predicted_value_365d %}worth {{ customer.predictions.predicted_value_365d | money }},{% endif %}
{% if customer.predictions.best_send_hour is defined %}reads at {{ customer.predictions.best_send_hour }} h{% endif %}
{% else %}not predicted yet{% endif %}
</mj-text></mj-column></mj-section></mj-body></mjml>
"""  # noqa: E501
LINKS = LinksData("https://s.example/u", "https://s.example/p", "https://s.example")
SENDER = SenderData("Shop", "shop@example.com", "Shop\nStreet 1")
# 23:30 UTC is already the next day in Berlin and still this one in New York.
NEXT_ORDER = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)


def _customers(database: Database) -> dict[str, int]:
    rows = [
        CustomerUpsert(email, {"timezone": zone, "locale": locale})
        for email, zone, locale in (
            ("berlin@example.com", "Europe/Berlin", "de_DE"),
            ("newyork@example.com", "America/New_York", "en_US"),
            ("nobody@example.com", "Europe/Berlin", "en_GB"),
        )
    ]
    with database.transaction() as session:
        ids = upsert_customers(session, rows, NOW).customer_ids
        write_predictions(
            session,
            [
                CustomerPrediction(ids["berlin@example.com"], 0.25, 0.75, 1.5, NEXT_ORDER,
                                   123_456, 19, NOW),
                CustomerPrediction(ids["newyork@example.com"], 0.875, 0.125, 0.25, NEXT_ORDER,
                                   None, 0, NOW),
            ],
        )  # fmt: skip
    return ids


def test_the_stored_predictions_render_in_each_customers_zone_and_locale(
    database: Database, write_template: WriteTemplate, scratch_library: TemplateLibrary
) -> None:
    write_template("predicted/figures", TEMPLATE)
    ids = _customers(database)
    with database.session() as session:
        recipients = load_recipients(session, ids.values())
    snapshot = recipients[ids["berlin@example.com"]].predictions
    assert snapshot is not None and snapshot.predicted_value_365d_minor == 123_456
    assert recipients[ids["nobody@example.com"]].predictions is None
    composer = Composer(Settings(currency="EUR"), scratch_library, b"k" * 32)

    def text_for(email: str) -> str:
        context = composer.context(recipients[ids[email]], NOW)
        rendered = scratch_library.render("predicted/figures", context, subject="s")
        return " ".join(rendered.text.split())

    berlin = text_for("berlin@example.com")
    assert "risk 75%, active 0.25, 1.5 orders in 90 days," in berlin
    # The copy is English (no catalogs here): English month names, German conventions.
    assert "next order 27 November 2026," in berlin
    assert "worth 1.234,56 €," in berlin  # split() makes the no-break space a space
    assert "reads at 19 h" in berlin
    new_york = text_for("newyork@example.com")
    assert "risk 12%, active 0.875, 0.25 orders in 90 days," in new_york
    assert "next order November 26, 2026," in new_york
    assert "worth" not in new_york  # no predicted value stored
    assert "reads at 0 h" in new_york
    assert text_for("nobody@example.com") == "not predicted yet"


def test_the_context_gives_predictions_as_plain_values() -> None:
    figures = PredictionsData(0.5, 0.5, 2.0, NEXT_ORDER + timedelta(hours=1), None, 7)
    context = build_context(
        customer=CustomerData("a@example.com", timezone="Asia/Tokyo", predictions=figures),
        links=LINKS,
        sender=SENDER,
    )
    assert context["customer"]["predictions"] == {
        "p_active": 0.5,
        "churn_risk": 0.5,
        "expected_orders_90d": 2.0,
        "predicted_next_order_at": datetime(2026, 11, 27).date(),
        "best_send_hour": 7,
    }
    bare = build_context(customer=CustomerData("b@example.com"), links=LINKS, sender=SENDER)
    assert bare["customer"]["predictions"] is None
