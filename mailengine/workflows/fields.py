"""The allow-list of what an audience may look at, and the operators each kind of field takes.

Only names listed here reach SQL; `attributes.<key>` reads one free-form attribute. The
compiler in `store.audience_sql` maps each name to a column.

Predicted fields (`predicted`: churn risk, next order, value, best hour) are empty for a
customer the nightly prediction job has not scored yet: no comparison on them matches such
a customer (not even `ne`), and `is_set: false` finds them. `within` looks back from now on
the fields that record the past (`last_order_at: {within: 30 days}`: in the last 30 days)
and ahead on the one that predicts the future (`predicted_next_order_at: {within: 3 days}`:
in the next 3 days): `future` says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mailengine.workflows.model import Operator

FieldKind = Literal[
    "text", "enum", "integer", "number", "probability", "money", "timestamp", "date", "days",
    "attribute", "poll",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: FieldKind
    description: str
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None  # the whole numbers an integer field can hold
    predicted: bool = False  # empty until predicted; comparisons never match the empty
    future: bool = False  # a timestamp in the future: `within` looks ahead from now


_SPECS = (
    FieldSpec("email", "text", "e-mail address (lower case)"),
    FieldSpec("first_name", "text", "first name"),
    FieldSpec("last_name", "text", "last name"),
    FieldSpec("locale", "text", "locale, e.g. de_DE"),
    FieldSpec("timezone", "text", "IANA time zone, e.g. Europe/Berlin"),
    FieldSpec("zip", "text", "postal code"),
    FieldSpec("city", "text", "city"),
    FieldSpec("country", "text", "ISO country code, e.g. DE"),
    FieldSpec(
        "consent", "enum", "marketing consent", ("granted", "withdrawn", "pending", "unknown")
    ),
    FieldSpec("birthday", "date", "date of birth"),
    FieldSpec("created_at", "timestamp", "when the customer signed up"),
    FieldSpec("orders_count", "integer", "orders placed (cancelled and returned not counted)"),
    FieldSpec("total_spent", "money", "spend over all time, in the shop currency"),
    FieldSpec("spent_365d", "money", "spend over the last 365 days, in the shop currency"),
    FieldSpec("first_order_at", "timestamp", "when the first order was placed"),
    FieldSpec("last_order_at", "timestamp", "when the last order was placed"),
    FieldSpec("days_since_last_order", "days", "whole days since the last order"),
    FieldSpec("p_active", "probability", "predicted probability (0-1) that the customer is "
              "still active", predicted=True),
    FieldSpec("churn_risk", "probability", "predicted risk (0-1) that the customer is lost: "
              "1 - p_active", predicted=True),
    FieldSpec("expected_orders_90d", "number", "predicted orders in the next 90 days",
              predicted=True),
    FieldSpec("predicted_value_365d", "money", "predicted spend over the next 365 days, in "
              "the shop currency", predicted=True),
    FieldSpec("predicted_next_order_at", "timestamp", "when the next order is predicted "
              "(within: N days = in the next N days)", predicted=True, future=True),
    FieldSpec("best_send_hour", "integer", "the hour (0-23, their zone) the customer reads "
              "mail most", bounds=(0, 23), predicted=True),
)  # fmt: skip
FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in _SPECS}
ATTRIBUTE_PREFIX = "attributes."
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# `polls.delivery_nps: {lte: 6}`: the customer's latest answer to a poll, by its score (a
# whole number) or its answer's name; a customer who has not answered matches no comparison
# (not even `ne`), and `is_set: false` finds them.
POLL_PREFIX = "polls."
POLL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

# Metrics `top: {by: ...}` may rank on: stored per-customer figures only (fast, indexable).
RANKING_METRICS = ("spent_365d", "total_spent", "orders_count")
# Special keys of an audience mapping, besides fields and all/any/not.
SPECIAL_KEYS = ("top", "rfm", "rfm_segment", "spent", "orders")
GROUP_KEYS = ("all", "any", "not")

_EQUALITY: tuple[Operator, ...] = ("eq", "ne", "in", "not_in")
_ORDERING: tuple[Operator, ...] = ("gt", "gte", "lt", "lte")
OPERATORS: dict[FieldKind, tuple[Operator, ...]] = {
    "text": (*_EQUALITY, "starts_with", "is_set"),
    "enum": _EQUALITY,
    "integer": (*_EQUALITY, *_ORDERING),
    "number": ("eq", "ne", *_ORDERING),
    "probability": ("eq", "ne", *_ORDERING),
    "money": (*_EQUALITY, *_ORDERING),
    "days": (*_EQUALITY, *_ORDERING),
    "timestamp": ("before", "after", "within", "is_set"),
    "date": ("before", "after", "is_set"),
    "attribute": (*_EQUALITY, *_ORDERING, "starts_with", "is_set"),
    "poll": (*_EQUALITY, *_ORDERING, "is_set"),
}
ALL_OPERATORS: tuple[Operator, ...] = (
    *_EQUALITY,
    *_ORDERING,
    "starts_with",
    "is_set",
    "before",
    "after",
    "within",
)


def operators_of(spec: FieldSpec) -> tuple[Operator, ...]:
    """The operators a field takes: its kind's, and `is_set` for a predicted one."""
    found = OPERATORS[spec.kind]
    if spec.predicted and "is_set" not in found:
        return (*found, "is_set")
    return found


def field_names() -> list[str]:
    """Every name an audience condition may use, for messages and `did you mean`."""
    return [*FIELDS, "attributes.<name>", "polls.<name>", *SPECIAL_KEYS, *GROUP_KEYS]


def spec_of(name: str) -> FieldSpec | None:
    """The field's spec; `attributes.x` gives an attribute spec; unknown names give None."""
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name[len(ATTRIBUTE_PREFIX) :]
        if ATTRIBUTE_KEY.match(key):
            return FieldSpec(name, "attribute", f"attribute '{key}'")
        return None
    if name.startswith(POLL_PREFIX):
        key = name[len(POLL_PREFIX) :]
        if POLL_KEY.match(key):
            return FieldSpec(name, "poll", f"latest answer to the poll '{key}'")
        return None
    return FIELDS.get(name)


def attribute_key(name: str) -> str:
    return name[len(ATTRIBUTE_PREFIX) :]


def poll_key(name: str) -> str:
    return name[len(POLL_PREFIX) :]
