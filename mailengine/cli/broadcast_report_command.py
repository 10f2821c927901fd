"""`mailengine broadcast report NAME`: each variant's figures with 95 % intervals, which
variant won (or would win) and whether that is significant, and the figures over time.

Figures come from `store.broadcast_report`, the winner from `broadcasts.figures`; this module
only lays them out: a table with a column per variant (and per phase, once a winner went to
the rest), or one JSON document (`--json`).

`cli.main` adds the command to the `broadcast` group of `cli/broadcast_commands.py`.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import click
from babel.numbers import format_currency
from sqlmodel import Session

from mailengine.broadcasts.figures import (
    METRIC_LABELS,
    VariantFigures,
    WinnerChoice,
    metric_interval,
)
from mailengine.broadcasts.figures_data import (
    report_columns,
    report_winner,
    variant_data,
    winner_data,
)
from mailengine.broadcasts.loader import load_broadcasts, parse_broadcast_text
from mailengine.broadcasts.model import METRICS, Broadcast, Metric
from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import Column, Rows, TablePrinter
from mailengine.config import Settings
from mailengine.errors import MailengineError
from mailengine.intervals import Interval
from mailengine.money import to_major
from mailengine.store.broadcast_report import (
    Bucket,
    SeriesPoint,
    broadcast_names,
    broadcast_report,
)
from mailengine.store.broadcast_runs import load as load_run

AUTO_HOURS = 48  # without --by: hours while the series spans at most two days, then days
_RATES: tuple[tuple[str, Metric], ...] = (
    ("opened", "opens"),
    ("clicked", "clicks"),
    ("conversions", "conversions"),
)


class UnknownBroadcastError(MailengineError, LookupError):
    """No broadcast of that name has mail in the outbox."""


@click.command("report")
@click.argument("name")
@click.option(
    "--by",
    "bucket",
    type=click.Choice(["hour", "day"]),
    default=None,
    help=f"Figures over time per hour or day [default: hours up to {AUTO_HOURS}, then days].",
)
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default=None,
    help="What the winner is chosen by [default: the broadcast's winner rule, else clicks].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for programs.")
@pass_context
def report_command(
    state: CliContext, name: str, bucket: Bucket | None, metric: Metric | None, as_json: bool
) -> None:
    """Sent, delivered, bounced, opened, clicked, unsubscribed, complained, conversions and
    revenue of each variant, with 95 % intervals; the winner; the figures over time."""
    settings = state.settings
    now = state.clock.now()
    window = timedelta(days=settings.http.attribution_days)
    with state.ready_database().session() as session:
        report = broadcast_report(session, name, window, now)
        if not report.variants:
            raise _unknown(name, broadcast_names(session))
        declared = _declared(session, name, settings)
    figures = report.variants
    series = report.series(bucket or "hour", settings.zone)
    if bucket is None and len(series) > AUTO_HOURS:
        bucket = "day"
        series = report.series(bucket, settings.zone)
    choice = report_winner(figures, metric or declared.metric, settings.currency)
    assert choice is not None  # the broadcast has mail
    went = declared.winner or next(
        (variant for variant, found in figures.items() if "rest" in found.phases), None
    )
    chosen_by = "option" if metric else "winner rule" if declared.metric else "default"
    if as_json:
        document = _document(name, now, window, figures, settings)
        document["winner"] = {
            **winner_data(choice, settings.currency),
            "chosen_by": chosen_by,
            "went": went,
        }
        document["series"] = {
            "by": bucket or "hour",
            "points": [
                {**asdict(point), "start": point.start.isoformat(timespec="seconds")}
                for point in series
            ],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    printer = TablePrinter("table", settings.zone)
    printer.print(_figures_table(name, figures, settings))
    printer.note(_verdict(choice, went, chosen_by))
    printer.print(_series_table(series, bucket or "hour", printer))


@dataclass(frozen=True)
class _Declared:
    metric: Metric | None  # the broadcast's winner rule, if it has one
    winner: str | None  # the variant the engine sent to the rest, once it did


def _declared(session: Session, name: str, settings: Settings) -> _Declared:
    """What the broadcast says: as scheduled (its source frozen then), else its file."""
    run = load_run(session, name)
    if run is not None:
        found, _ = parse_broadcast_text(run.source, run.path or name)
        return _Declared(_rule_metric(found), run.winner)
    files = load_broadcasts([settings.paths.broadcasts]).broadcasts
    return _Declared(_rule_metric(files.get(name)), None)


def _rule_metric(found: Broadcast | None) -> Metric | None:
    return found.winner.metric if found is not None and found.winner is not None else None


def _unknown(name: str, known: list[str]) -> UnknownBroadcastError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UnknownBroadcastError(
        f"no broadcast named '{name}' has mail in the outbox{hint}; "
        f"with mail: {', '.join(known) or 'none'}"
    )


def _verdict(choice: WinnerChoice, went: str | None, chosen_by: str) -> str:
    label = METRIC_LABELS[choice.metric]
    why = {
        "option": "",
        "winner rule": ", the broadcast's winner rule",
        "default": " (no winner rule; --metric chooses another)",
    }[chosen_by]
    if went is not None:
        return f"{went} went to the rest. By {label}{why}, test cells only: {choice.sentence}"
    return f"By {label}{why}, {choice.winner} would win. {choice.sentence}"


def _figures_table(name: str, figures: Mapping[str, VariantFigures], settings: Settings) -> Rows:
    columns = report_columns(figures)

    def row(label: str, value: Callable[[VariantFigures], str]) -> dict[str, str]:
        return {"figure": label, **{key: value(found) for key, found in columns.items()}}

    def count(field: str) -> Callable[[VariantFigures], str]:
        return lambda found: f"{getattr(found, field):,}"

    def skipped_for(reason: str) -> Callable[[VariantFigures], str]:
        return lambda found: f"{found.skip_reasons.get(reason, 0):,}"

    def rate(metric: Metric) -> Callable[[VariantFigures], str]:
        return lambda found: _interval_text(metric_interval(found, metric), metric, settings)

    rows = [row(label, count(field)) for field, label in _COUNTS[:5]]
    for field, metric in _RATES:
        rows.append(row(field, count(field)))
        rows.append(row(f"  {METRIC_LABELS[metric]}", rate(metric)))
    rows += [row(label, count(field)) for field, label in _COUNTS[5:7]]
    rows.append(row("revenue", lambda found: _money(found.revenue_minor, settings)))
    rows.append(row(f"  {METRIC_LABELS['revenue']}", rate("revenue")))
    rows.append(row("skipped", count("skipped")))
    reasons = sorted({reason for found in columns.values() for reason in found.skip_reasons})
    rows += [row(f"  {reason}", skipped_for(reason)) for reason in reasons]
    rows += [row(label, count(field)) for field, label in _COUNTS[7:]]
    table_columns = [Column("figure", "")] + [Column(key, right=True) for key in columns]
    title = f"Broadcast {name}: figures per variant, rates with 95% intervals (per delivered)"
    return Rows("figures", table_columns, rows, title=title)


_COUNTS = (
    ("planned", "planned"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("bounced_hard", "bounced hard"),
    ("bounced_soft", "bounced soft"),
    ("unsubscribed", "unsubscribed"),
    ("complained", "complained"),
    ("cancelled", "cancelled"),
    ("paused", "paused"),
    ("waiting", "waiting"),
    ("failed", "render failed"),
)


def _interval_text(interval: Interval | None, metric: Metric, settings: Settings) -> str:
    """`4.1% (3.6–4.7)`, or `€1.25 (€0.40 to €2.10)` for revenue per recipient."""
    if interval is None:
        return "–"
    if metric == "revenue":
        mean = _money(interval.estimate, settings)
        if not math.isfinite(interval.high):
            return f"{mean} (one recipient: no interval)"
        low, high = _money(interval.low, settings), _money(interval.high, settings)
        return f"{mean} ({low} to {high})"
    return f"{interval.estimate * 100:.1f}% ({interval.low * 100:.1f}–{interval.high * 100:.1f})"


def _money(minor: float, settings: Settings) -> str:
    if not math.isfinite(minor):
        return "–"
    amount = to_major(minor, settings.currency)
    return format_currency(amount, settings.currency, locale=settings.locale)


def _series_table(series: list[SeriesPoint], bucket: Bucket, printer: TablePrinter) -> Rows:
    def start(moment: datetime) -> str:
        shown = moment.isoformat(sep=" ", timespec="minutes")
        return shown[:10] if bucket == "day" else shown

    columns = [Column("start", "day" if bucket == "day" else "hour", show=start)] + [
        Column(figure, right=True) for figure in ("sent", "opened", "clicked", "conversions")
    ]
    return Rows(
        "series",
        columns,
        [asdict(point) for point in series],
        title=f"Per {bucket} since the first send ({printer.zone.key})",
        empty="Nothing sent yet.",
    )


def _document(
    name: str,
    now: datetime,
    window: timedelta,
    figures: Mapping[str, VariantFigures],
    settings: Settings,
) -> dict[str, Any]:
    """The report for programs: counts as numbers, money in major units, rates as fractions
    with their 95 % intervals, times as ISO 8601 with the shop's offset."""
    currency = settings.currency

    def variant(found: VariantFigures) -> dict[str, Any]:
        return variant_data(found, currency)

    return {
        "broadcast": name,
        "now": now.astimezone(settings.zone).isoformat(timespec="seconds"),
        "attribution_days": window.days,
        "currency": currency,
        "variants": {
            key: {**variant(found), "phases": {p: variant(f) for p, f in found.phases.items()}}
            for key, found in figures.items()
        },
    }
