"""The template check knows which values a test or a fallback protects, and which it does not."""

from __future__ import annotations

import pytest

from mailengine.render.environment import text_environment
from mailengine.render.template_lint import lint

ENV = text_environment()

FINE = {
    "fallback": "{{ customer.first_name | default('there') }}",
    "tested": "{% if customer.first_name %}{{ customer.first_name }}{% endif %}",
    "elif": "{% if customer.city %}{{ customer.city }}{% elif customer.zip %}{{ customer.zip }}"
    "{% else %}{{ customer.email }}{% endif %}",
    "not-else": "{% if not last_order %}none{% else %}{{ last_order.external_id }}{% endif %}",
    "and": "{% if last_order and last_order.items %}{{ last_order.items[0].name }}{% endif %}",
    "or-right": "{{ customer.first_name or customer.email }}",
    "conditional": "{{ customer.city if customer.city else 'far away' }}",
    "defined": "{% if support is defined %}{{ support.message }}{% endif %}",
    "loop": "{% for o in orders %}{{ o.external_id }}{% if o.shipped_at %}{{ o.shipped_at }}"
    "{% endif %}{% endfor %}",
    "set": "{% set name = customer.first_name | default('you') %}{{ name | upper }}",
    "kind": "{% if coupon %}{% if coupon.kind == 'percent' %}{{ coupon.percent }}{% else %}"
    "{{ coupon.amount }}{% endif %}{% endif %}",
    "compare": "{% if customer.city == 'Berlin' %}{{ customer.city }}{% endif %}",
    "dict-method": "{% set labels = {'a': 'b'} %}{{ labels.get(customer.locale, 'x') }}",
    "macro": "{% macro hi(who) %}{{ who }}{% endmacro %}{{ hi(customer.email) }}",
    "predictions": "{% if customer.predictions %}{{ customer.predictions.churn_risk }}"
    "{% if customer.predictions.predicted_next_order_at %}"
    "{{ customer.predictions.predicted_next_order_at | date }}{% endif %}{% endif %}",
}

WRONG = {
    "printed": ("{{ customer.city }}", "customer.city is missing"),
    "other-branch": (
        "{% if customer.city %}{% else %}{{ customer.city }}{% endif %}",
        "customer.city is missing",
    ),
    "filtered": ("{{ customer.attributes.size | upper }}", "customer.attributes.size is missing"),
    "none-section": ("{{ last_order.external_id }}", "last_order is None for customers"),
    "empty-list": (
        "{% if last_order %}{{ last_order.items[0].name }}{% endif %}",
        "last_order.items[0] is missing when the list is empty",
    ),
    "ordering": ("{% if customer.city > 'B' %}x{% endif %}", "customer.city is missing"),
    "unknown-field": ("{{ customer.frist_name }}", "customer has no field 'frist_name' (did you"),
    "unknown-test": ("{% if customer.email is emial %}{% endif %}", "unknown test 'emial'"),
    "kind-wrong-branch": (
        "{% if coupon %}{% if coupon.kind == 'percent' %}{{ coupon.amount }}{% endif %}{% endif %}",
        "coupon.amount is missing",
    ),
    "loop-item": ("{% for item in orders %}{{ item.shipped_at }}{% endfor %}", "item.shipped_at"),
    "not-predicted": (
        "{{ customer.predictions.p_active }}",
        "customer.predictions is None for customers not predicted yet",
    ),
    "predicted-without-a-date": (
        "{% if customer.predictions %}{{ customer.predictions.predicted_next_order_at }}"
        "{% endif %}",
        "customer.predictions.predicted_next_order_at is missing",
    ),
    "predicted-unknown": (
        "{% if customer.predictions %}{{ customer.predictions.churn }}{% endif %}",
        "customer.predictions has no field 'churn' (did you mean 'churn_risk'",
    ),
}


@pytest.mark.parametrize("source", FINE.values(), ids=FINE.keys())
def test_protected_values_pass(source: str) -> None:
    assert lint(source, ENV.filters, ENV.tests) == []


@pytest.mark.parametrize(("source", "message"), WRONG.values(), ids=WRONG.keys())
def test_unprotected_values_and_unknown_names_are_found(source: str, message: str) -> None:
    found = lint(source, ENV.filters, ENV.tests)
    assert len(found) == 1, found
    assert found[0].message.startswith(message), found[0].message


def test_what_the_workflow_guarantees_needs_no_test() -> None:
    source = "{{ last_order.placed_at }} {{ customer.attributes.shoe_size }}"
    present = frozenset({"last_order", "customer.attributes.shoe_size"})
    assert lint(source, ENV.filters, ENV.tests, present) == []
    assert len(lint(source, ENV.filters, ENV.tests)) == 2
