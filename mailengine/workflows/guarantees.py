"""What a workflow guarantees its templates: values every customer it mails has.

A win-back's audience wants `orders_count >= 1`, so its mail may print `last_order.placed_at`
without a test; a birthday workflow's customers all have a birthday; a step with a coupon
always has `coupon`; an audience on a predicted figure (`churn_risk: {gte: 0.6}`) selects
only customers with `customer.predictions`. `validate` checks templates and subjects with
these values counted as present (customer attributes too: `attributes.shoe_size: {is_set:
true}` declares one).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from mailengine.workflows import fields
from mailengine.workflows.model import (
    AllOf,
    BranchStep,
    Comparison,
    Condition,
    EventTrigger,
    RfmScore,
    RfmSegment,
    SendStep,
    Step,
    TopPercent,
    WindowComparison,
    Workflow,
    YearlyTrigger,
)

_BUYER = frozenset({"last_order", "orders"})
_PROFILE = {
    "first_name": ("customer.first_name", "customer.full_name"),
    "last_name": ("customer.last_name", "customer.full_name"),
    "city": ("customer.city",),
    "zip": ("customer.zip",),
    "country": ("customer.country",),
    "birthday": ("customer.birthday",),
}
_ORDER_DATES = ("first_order_at", "last_order_at", "days_since_last_order")
_SPEND = ("orders_count", "total_spent", "spent_365d")
# Operators that no customer without the value can pass (`ne`, `not_in` let them through).
_NEEDS_VALUE = frozenset(
    {"eq", "in", "starts_with", "gt", "gte", "lt", "lte", "before", "after", "within"}
)
_EVENTS = {"order.placed": _BUYER | {"order"}}
# A comparison on a predicted figure holds only for customers with predictions (`ne` too);
# the figures some predicted customers lack are named as well.
_PREDICTED = frozenset(name for name, spec in fields.FIELDS.items() if spec.predicted)
_PREDICTED_PATHS = {
    "predicted_next_order_at": "customer.predictions.predicted_next_order_at",
    "predicted_value_365d": "customer.predictions.predicted_value_365d",
    "best_send_hour": "customer.predictions.best_send_hour",
}


def guaranteed(workflow: Workflow, step: SendStep) -> frozenset[str]:
    """The paths (`customer.birthday`, `last_order`) present in every mail of `step`."""
    found = set(guaranteed_by_audience(workflow.audience))
    trigger = workflow.trigger
    if isinstance(trigger, YearlyTrigger):
        if trigger.on == "birthday":
            found.add("customer.birthday")
        elif trigger.on == "first_order":
            found |= _BUYER
    elif isinstance(trigger, EventTrigger):
        found |= _EVENTS.get(trigger.event, frozenset())
    for condition in _conditions_on_the_way(workflow.steps, step.id):
        found |= _of_condition(condition)
    if step.coupon is not None:
        found.add("coupon")
    return frozenset(found)


def guaranteed_by_audience(audience: Condition | None) -> frozenset[str]:
    """The paths every customer an audience selects has (a broadcast's audience too)."""
    return frozenset(_of_condition(audience)) if audience is not None else frozenset()


def _conditions_on_the_way(steps: tuple[Step, ...], step_id: str) -> Iterator[Condition]:
    """The `if:` conditions a customer passed as true to reach `step_id`."""
    for step in steps:
        if step.id == step_id:
            return
        if isinstance(step, BranchStep):
            if any(inner.id == step_id for inner in _walk(step.then)):
                yield step.condition
                yield from _conditions_on_the_way(step.then, step_id)
                return
            if any(inner.id == step_id for inner in _walk(step.otherwise)):
                yield from _conditions_on_the_way(step.otherwise, step_id)
                return


def _walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        if isinstance(step, BranchStep):
            yield from _walk(step.then)
            yield from _walk(step.otherwise)


def _of_condition(condition: Condition) -> set[str]:
    if isinstance(condition, AllOf):
        return set().union(*(_of_condition(part) for part in condition.conditions))
    if isinstance(condition, TopPercent | RfmScore | RfmSegment):
        return set(_BUYER)  # ranked among customers with a figure above zero: buyers
    if isinstance(condition, WindowComparison):
        return set(_BUYER) if _at_least_one(condition.operator, condition.value) else set()
    if isinstance(condition, Comparison):
        return _of_comparison(condition)
    return set()  # any / not: nothing is sure


def _of_comparison(comparison: Comparison) -> set[str]:
    name, operator, value = comparison.field, comparison.operator, comparison.value
    if name in _PREDICTED:
        if operator == "is_set" and value is not True:
            return set()
        found = {"customer.predictions"}
        if name in _PREDICTED_PATHS:
            found.add(_PREDICTED_PATHS[name])
        return found
    needs = operator in _NEEDS_VALUE or (operator == "is_set" and value is True)
    if not needs:
        return set()
    if name.startswith("attributes."):
        return {"customer." + name}
    if name in _PROFILE:
        return set(_PROFILE[name])
    if name in _ORDER_DATES:
        return set(_BUYER)
    if name in _SPEND and _at_least_one(operator, value):
        return set(_BUYER)
    return set()


def _at_least_one(operator: str, value: object) -> bool:
    """Does `figure operator value` hold only for figures above zero?"""
    if isinstance(value, tuple):
        return operator == "in" and all(_positive(item) for item in value)
    if operator in ("gte", "eq"):
        return _positive(value)
    if operator == "gt":
        return isinstance(value, int | Decimal) and value >= 0
    return False


def _positive(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0
