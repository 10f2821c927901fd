"""The prediction job: fit the models on every order and store every customer's figures.

Run nightly by the engine (`engine:predict`, 04:00 in the shop's zone, on the leader only)
and by `mailengine predict`. Orders and engagement stream from the database into arrays
(`store.prediction_inputs`), the models run on them (`predict`), and the figures of every
customer not forgotten are written back (`store.predictions`), 50,000 customers per
transaction so that other writers (on SQLite everyone shares one write lock) wait a second
at most. Customers without an order get no model figures (None); customers without an open,
click or order in the last 365 days no hour of their own (the shop's best hour, stored
beside, stands in when mail is timed). A summary of the run is stored as the shop figure
`prediction_run` for the studio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from mailengine.engine.facts import zone_of
from mailengine.errors import PredictionError
from mailengine.predict import Models, Scores, fit_models, score, summarise
from mailengine.predict.arrays import Floats, Ints
from mailengine.predict.hours import best_hours, local_days, local_hours, shop_best_hour
from mailengine.store.database import Database
from mailengine.store.prediction_inputs import (
    CustomerZones,
    OrderArrays,
    read_customer_zones,
    read_engagements,
    read_orders,
)
from mailengine.store.predictions import (
    SHOP_BEST_SEND_HOUR,
    CustomerPrediction,
    write_predictions,
    write_shop_figure,
)

log = logging.getLogger(__name__)
PREDICTION_RUN = "prediction_run"
ENGAGEMENT_WINDOW = timedelta(days=365)
CHURN_BINS = 10
# Customers written per transaction: on SQLite a transaction holds the one write lock, and
# other work (sends, events) waits for it; 50,000 take about a second.
TRANSACTION_ROWS = 50_000


@dataclass(frozen=True)
class PredictionRun:
    """What one run did: counts, the fitted parameters (None when the models could not be
    fitted, with the reason), and how long it took."""

    at: datetime
    customers: int
    scored: int
    orders: int
    with_own_hour: int
    shop_best_hour: int | None
    models: Models | None
    not_fitted: str | None
    churn_histogram: list[int]
    mean_churn_risk: float | None
    expected_orders_90d: float
    predicted_value_365d_minor: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        models = self.models
        return {
            "at": self.at.isoformat(),
            "customers": self.customers,
            "scored": self.scored,
            "orders": self.orders,
            "with_own_hour": self.with_own_hour,
            "shop_best_hour": self.shop_best_hour,
            "bgnbd": None if models is None else bgnbd_json(models),
            "gamma_gamma": None if models is None else gamma_gamma_json(models),
            "not_fitted": self.not_fitted,
            "churn_histogram": self.churn_histogram,
            "mean_churn_risk": self.mean_churn_risk,
            "expected_orders_90d": round(self.expected_orders_90d, 1),
            "predicted_value_365d_minor": self.predicted_value_365d_minor,
            "seconds": round(self.seconds, 2),
        }


def bgnbd_json(models: Models) -> dict[str, Any]:
    fit = models.bgnbd
    p = fit.params
    return {"r": p.r, "alpha_days": p.alpha, "a": p.a, "b": p.b, "converged": fit.converged,
            "customers": fit.customers}  # fmt: skip


def gamma_gamma_json(models: Models) -> dict[str, Any]:
    fit = models.gamma_gamma
    p = fit.params
    return {"p": p.p, "q": p.q, "gamma": p.gamma, "converged": fit.converged,
            "customers": fit.customers}  # fmt: skip


def order_days(orders: OrderArrays, zone: ZoneInfo) -> Ints:
    """Each order's calendar day in the shop's zone: the models' time axis."""
    return local_days(orders.placed, zone)


def today_number(now: datetime, zone: ZoneInfo) -> int:
    return now.astimezone(zone).date().toordinal()


def run_predictions(database: Database, zone: ZoneInfo, now: datetime) -> PredictionRun:
    """Score every customer as of `now` and store the figures (see the module)."""
    started = time.perf_counter()
    with database.session() as session:
        orders = read_orders(session)
        zones = read_customer_zones(session)
        engagements = read_engagements(session, now - ENGAGEMENT_WINDOW)
    today = today_number(now, zone)
    summaries = summarise(orders.customer, order_days(orders, zone), orders.amount_minor, today)
    models: Models | None = None
    not_fitted: str | None = None
    scores: Scores | None = None
    try:
        models = fit_models(summaries)
        scores = score(models, summaries, today)
    except PredictionError as error:
        not_fitted = str(error)
        log.warning("no model figures this time: %s", error)

    since = int((now - ENGAGEMENT_WINDOW).timestamp())
    recent = orders.placed >= since
    owner = np.concatenate([engagements.customer, orders.customer[recent]])
    moment = np.concatenate([engagements.moment, orders.placed[recent]])
    own_hours, shop_hour = _hours(zones, owner, moment, zone)

    figures = _Figures.of(zones.customer, scores)
    rows = figures.rows(own_hours, now, zone)
    written = 0
    while batch := list(islice(rows, TRANSACTION_ROWS)):
        with database.transaction() as session:
            written += write_predictions(session, batch)
    with database.transaction() as session:
        if shop_hour is not None:
            write_shop_figure(session, SHOP_BEST_SEND_HOUR, shop_hour, now)
        run = _summary(now, written, len(orders), own_hours, shop_hour, models, not_fitted,
                       scores, time.perf_counter() - started)  # fmt: skip
        write_shop_figure(session, PREDICTION_RUN, run.as_json(), now)
    return run


def _hours(
    zones: CustomerZones, owner: Ints, moment: Ints, shop_zone: ZoneInfo
) -> tuple[Ints, int | None]:
    """Each customer's best hour (-1: none) and the shop's, every moment in the customer's
    zone (the shop's for customers without one, or with one that is not a known zone)."""
    resolved = [zone_of(name, shop_zone) for name in zones.names]
    where = np.searchsorted(zones.customer, owner)
    known = where < zones.customer.size
    known[known] = zones.customer[where[known]] == owner[known]
    where, moment = where[known], moment[known]
    hours = local_hours(moment, zones.zone[where], resolved)
    return best_hours(where, hours, zones.customer.size), shop_best_hour(hours)


@dataclass(frozen=True)
class _Figures:
    """The model figures spread over every customer (NaN where a customer has none)."""

    customer: Ints
    p_active: Floats
    expected_orders: Floats
    next_day: Floats
    value: Floats

    @classmethod
    def of(cls, customer: Ints, scores: Scores | None) -> _Figures:
        def spread(values: Floats | None) -> Floats:
            full = np.full(customer.size, np.nan)
            if scores is not None and values is not None:
                full[where[known]] = values[known]
            return full

        where = np.zeros(0, dtype=np.int64)
        known = np.zeros(0, dtype=bool)
        if scores is not None:
            where = np.searchsorted(customer, scores.customer)
            known = where < customer.size
            known[known] = customer[where[known]] == scores.customer[known]
        return cls(
            customer,
            spread(None if scores is None else scores.p_active),
            spread(None if scores is None else scores.expected_orders_90d),
            spread(None if scores is None else scores.predicted_next_order_day),
            spread(None if scores is None else scores.predicted_value_365d),
        )

    def rows(self, hours: Ints, now: datetime, zone: ZoneInfo) -> Iterator[CustomerPrediction]:
        starts: dict[int, datetime] = {}

        def day_start(day: float) -> datetime | None:
            if day != day:  # NaN: no next order expected
                return None
            number = int(day)
            found = starts.get(number)
            if found is None:
                local = datetime.combine(date.fromordinal(number), datetime.min.time(), zone)
                found = starts[number] = local.astimezone(UTC)
            return found

        values = np.where(np.isnan(self.value), -1.0, np.round(self.value))
        for customer_id, active, orders, next_day, value, hour in zip(
            self.customer.tolist(),
            self.p_active.tolist(),
            self.expected_orders.tolist(),
            self.next_day.tolist(),
            values.tolist(),
            hours.tolist(),
            strict=True,
        ):
            modelled = active == active
            yield CustomerPrediction(
                customer_id,
                active if modelled else None,
                1.0 - active if modelled else None,
                orders if modelled else None,
                day_start(next_day),
                int(value) if value >= 0 else None,
                hour if hour >= 0 else None,
                now,
            )


def _summary(
    now: datetime,
    customers: int,
    orders: int,
    own_hours: Ints,
    shop_hour: int | None,
    models: Models | None,
    not_fitted: str | None,
    scores: Scores | None,
    seconds: float,
) -> PredictionRun:
    histogram = [0] * CHURN_BINS
    mean_churn: float | None = None
    expected = value = 0.0
    if scores is not None and scores.churn_risk.size:
        bins = np.minimum((scores.churn_risk * CHURN_BINS).astype(np.int64), CHURN_BINS - 1)
        histogram = np.bincount(bins, minlength=CHURN_BINS).tolist()
        mean_churn = round(float(scores.churn_risk.mean()), 4)
        expected = float(scores.expected_orders_90d.sum())
        value = float(np.nansum(scores.predicted_value_365d))
    return PredictionRun(
        at=now,
        customers=customers,
        scored=0 if scores is None else int(scores.customer.size),
        orders=orders,
        with_own_hour=int((own_hours >= 0).sum()),
        shop_best_hour=shop_hour,
        models=models,
        not_fitted=not_fitted,
        churn_histogram=histogram,
        mean_churn_risk=mean_churn,
        expected_orders_90d=expected,
        predicted_value_365d_minor=round(value),
        seconds=seconds,
    )
