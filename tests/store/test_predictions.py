"""Predicted figures stored on customers, and the shop's own figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailengine.store import predictions as predictions_module
from mailengine.store.customers import customer_table, upsert_customers
from mailengine.store.database import Database
from mailengine.store.predictions import (
    SHOP_BEST_SEND_HOUR,
    CustomerPrediction,
    shop_best_send_hour,
    shop_figure,
    write_predictions,
    write_shop_figure,
)
from mailengine.store.records import CustomerUpsert
from tests.conftest import NOW

COLUMNS = (
    "p_active", "churn_risk", "expected_orders_90d", "predicted_next_order_at",
    "predicted_value_365d_minor", "best_send_hour", "predicted_at",
)  # fmt: skip


def _customers(database: Database, count: int) -> list[int]:
    rows = [CustomerUpsert(email=f"c{n}@example.com") for n in range(count)]
    with database.transaction() as session:
        outcome = upsert_customers(session, rows, NOW)
    return sorted(outcome.customer_ids.values())


def _stored(database: Database) -> dict[int, tuple[object, ...]]:
    c = customer_table.c
    statement = select(c.id, *(c[name] for name in COLUMNS)).order_by(c.id)
    with database.session() as session:
        return {row[0]: tuple(row[1:]) for row in session.execute(statement)}


def _prediction(customer_id: int, active: float, **changes: object) -> CustomerPrediction:
    row = CustomerPrediction(
        customer_id, active, 1 - active, 1.25, NOW + timedelta(days=4, hours=3), 12_990, 19, NOW
    )
    return row._replace(**changes)  # type: ignore[arg-type]


def test_new_customers_are_not_predicted_yet(database: Database) -> None:
    ids = _customers(database, 2)
    assert _stored(database) == {customer_id: (None,) * len(COLUMNS) for customer_id in ids}


def test_predictions_round_trip_in_batches(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several statements' worth (batches of 2 here): every row lands as written, empty
    figures and NaN as NULL, ids of nobody skipped, other customers untouched."""
    monkeypatch.setattr(predictions_module, "_BATCH_SQLITE", 2)
    monkeypatch.setattr(predictions_module, "_BATCH_POSTGRESQL", 2)
    first, second, third, untouched = _customers(database, 4)
    rows = [
        _prediction(first, 0.75),
        _prediction(second, 0.125, predicted_next_order_at=None, best_send_hour=0),
        _prediction(
            third,
            math.nan,
            churn_risk=math.nan,
            expected_orders_90d=None,
            predicted_value_365d_minor=None,
            best_send_hour=None,
        ),
        _prediction(untouched + 1000, 0.5),  # nobody has this id
    ]
    with database.transaction() as session:
        assert write_predictions(session, iter(rows)) == 3
    stored = _stored(database)
    assert stored[first] == (0.75, 0.25, 1.25, NOW + timedelta(days=4, hours=3), 12_990, 19, NOW)
    assert stored[second] == (0.125, 0.875, 1.25, None, 12_990, 0, NOW)
    assert stored[third] == (None, None, None, NOW + timedelta(days=4, hours=3), None, None, NOW)
    assert stored[untouched] == (None,) * len(COLUMNS)

    later = NOW + timedelta(days=1)
    with database.transaction() as session:
        rewritten = _prediction(first, 0.5, predicted_at=later, best_send_hour=None)
        assert write_predictions(session, [rewritten]) == 1
    assert _stored(database)[first] == (
        0.5, 0.5, 1.25, NOW + timedelta(days=4, hours=3), 12_990, None, later,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"p_active": 1.5}, "p_active 1.5 is not within 0-1"),
        ({"churn_risk": -0.1}, "churn_risk -0.1 is not within 0-1"),
        ({"expected_orders_90d": -1.0}, "expected_orders_90d -1.0 is negative"),
        ({"best_send_hour": 24}, "best_send_hour 24 is not 0-23"),
        ({"predicted_value_365d_minor": 12.5}, "predicted value 12.5 is not minor units"),
    ],
)
def test_impossible_figures_are_refused_before_anything_is_written(
    database: Database, changes: dict[str, object], message: str
) -> None:
    good, bad = _customers(database, 2)
    rows = [_prediction(good, 0.5), _prediction(bad, 0.5, **changes)]
    with (
        pytest.raises(ValueError, match=f"customer {bad}: {message}"),
        database.transaction() as session,
    ):
        write_predictions(session, rows)
    assert _stored(database)[good] == (None,) * len(COLUMNS)


def test_shop_figures_are_kept_by_name(database: Database) -> None:
    with database.session() as session:
        assert shop_figure(session, SHOP_BEST_SEND_HOUR) is None
        assert shop_best_send_hour(session) is None
    with database.transaction() as session:
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, 19, NOW)
        write_shop_figure(session, "fit", {"r": 0.243, "alpha": 4.414}, NOW)
    with database.transaction() as session:
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, 20, NOW + timedelta(days=1))
    with database.session() as session:
        assert shop_best_send_hour(session) == 20
        assert shop_figure(session, "fit") == {"r": 0.243, "alpha": 4.414}


@pytest.mark.parametrize("value", [24, -1, "19", True, 19.5])
def test_a_stored_shop_hour_that_is_no_hour_is_ignored(database: Database, value: object) -> None:
    with database.transaction() as session:
        write_shop_figure(session, SHOP_BEST_SEND_HOUR, value, NOW)
    with database.session() as session:
        assert shop_best_send_hour(session) is None
