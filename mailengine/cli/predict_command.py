"""`mailengine predict`: run the nightly prediction job now, or back-test the models.

Without options it fits the models on every order, stores every customer's figures and
prints what it did; `--backtest --until DATE` fits on the orders before DATE and compares
the predictions with what happened from DATE on (to `--to`, default today). Tables for
people, `--json` (or `--format csv|json`) for programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import click

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, Fact, Facts, OutputFormat, Rows, TablePrinter
from mailengine.engine.prediction_backtest import backtest_json, run_backtest
from mailengine.engine.prediction_job import run_predictions
from mailengine.errors import PredictionError
from mailengine.money import to_major


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date like 2026-06-30", param_hint=option
        ) from None


@click.command("predict")
@click.option("--backtest", is_flag=True, help="Back-test the models instead of storing figures.")
@click.option("--until", "until_text", help="Back-test: fit on the orders before this date.")
@click.option("--to", "to_text", help="Back-test: last day compared [default: today].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv or json for programs.",
)
@pass_context
def predict(
    state: CliContext,
    backtest: bool,
    until_text: str | None,
    to_text: str | None,
    as_json: bool,
    output_format: OutputFormat,
) -> None:
    """Predict every customer's figures now (what the engine does nightly at 04:00)."""
    settings = state.settings
    printer = TablePrinter("json" if as_json else output_format, settings.zone)
    now = state.clock.now()
    until, to = _day(until_text, "--until"), _day(to_text, "--to")
    if not backtest:
        if until is not None or to is not None:
            raise click.UsageError("--until and --to go with --backtest")
        run = run_predictions(state.ready_database(), settings.zone, now).as_json()
        printer.note(f"predicted the figures of {run['customers']:,} customers")
        printer.print(*_run_sections(run, settings.currency), meta={"at": now})
        return
    if until is None:
        raise click.UsageError("--backtest needs --until DATE (the first day to predict)")
    end = to or now.astimezone(settings.zone).date()
    try:
        found = run_backtest(state.ready_database(), settings.zone, until, end, now)
    except PredictionError as error:
        raise click.ClickException(f"cannot back-test: {error}") from None
    result = backtest_json(found, now)
    printer.note(
        f"fitted on orders before {result['until']}, compared {result['until']} to "
        f"{result['end']} ({result['holdout_days']} days)"
    )
    printer.print(*_backtest_sections(result), meta={"at": now})


def _param(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _model_facts(run: Mapping[str, Any]) -> list[Facts]:
    sections: list[Facts] = []
    bgnbd, spend = run.get("bgnbd"), run.get("gamma_gamma")
    if bgnbd is not None:
        names = [("r", "r"), ("alpha_days", "α (days)"), ("a", "a"), ("b", "b"),
                 ("converged", "converged")]  # fmt: skip
        facts = [Fact(key, label, bgnbd[key], show=_param) for key, label in names]
        sections.append(Facts("bgnbd", facts, title="BG/NBD (repeat orders)"))
    if spend is not None:
        names = [("p", "p"), ("q", "q"), ("gamma", "γ (minor units)"), ("converged", "converged")]
        facts = [Fact(key, label, spend[key], show=_param) for key, label in names]
        sections.append(Facts("gamma_gamma", facts, title="Gamma-Gamma (spend per order)"))
    return sections


def _run_sections(run: Mapping[str, Any], currency: str) -> list[Facts]:
    facts = [
        Fact("customers", "customers scored", run["customers"]),
        Fact("scored", "with orders (model figures)", run["scored"], indent=1),
        Fact("with_own_hour", "with a best hour of their own", run["with_own_hour"], indent=1),
        Fact("orders", "orders", run["orders"]),
        Fact("shop_best_hour", "shop's best hour", run["shop_best_hour"]),
        Fact("mean_churn_risk", "mean churn risk", run["mean_churn_risk"]),
        Fact("expected_orders_90d", "orders expected in 90 days", run["expected_orders_90d"]),
        Fact(
            "predicted_value_365d",
            "value expected over 365 days",
            to_major(run["predicted_value_365d_minor"], currency),
            show=lambda amount: f"{amount:,} {currency}",
        ),
        Fact("not_fitted", "models not fitted", run["not_fitted"]),
        Fact("seconds", "time taken (s)", run["seconds"]),
    ]
    return [Facts("run", facts, title="Prediction run"), *_model_facts(run)]


def _backtest_sections(result: Mapping[str, Any]) -> list[Facts | Rows]:
    summary = Facts(
        "backtest",
        [
            Fact("until", "holdout from", result["until"]),
            Fact("end", "holdout to", result["end"]),
            Fact("customers", "customers (ordered before)", result["customers"]),
            Fact("actual_orders", "actual orders in the holdout", result["actual_orders"]),
            Fact("predicted_orders", "predicted orders", result["predicted_orders"]),
            Fact("mean_absolute_error", "MAE per customer", result["mean_absolute_error"]),
            Fact("churn_auc", "AUC of churn risk (no order)", result["churn_auc"]),
            Fact(
                "expected_orders_auc",
                "AUC of fewest expected orders",
                result["expected_orders_auc"],
                indent=1,
            ),
        ],
        title="Back-test",
    )
    groups = Rows(
        "calibration",
        [
            Column("repeat_orders", "repeat orders before", right=True, show=_group_label),
            Column("customers", "customers", right=True),
            Column("mean_actual", "mean actual", right=True, show=_two),
            Column("mean_predicted", "mean predicted", right=True, show=_two),
        ],
        result["calibration"],
        title="Orders in the holdout by repeat orders before it (Figure 4)",
    )
    next_order = result["next_order"]
    naive = next_order["naive"]
    errors = Rows(
        "next_order",
        [
            Column("method", "next order day"),
            Column("customers", "customers", right=True),
            Column("mean_days", "mean error (days)", right=True),
            Column("median_days", "median error (days)", right=True),
        ],
        [
            {"method": "predicted", **next_order["model"]},
            {"method": f"naive (last + {next_order['naive_gap_days']} days)", **naive},
        ],
        title="Next order day against the first order in the holdout",
    )
    return [summary, groups, errors, *_model_facts(result)]


def _group_label(value: int) -> str:
    return f"{value}+" if value >= 7 else str(value)


def _two(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
