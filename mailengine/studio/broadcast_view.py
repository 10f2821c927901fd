"""What the studio's broadcast pages show, as plain data: every broadcast (its file, or as it
was stored when scheduled, from a file or through the API) with where it stands and its mail
so far; one broadcast with the facts `mailengine broadcast show` resolves, its report per
variant with 95 % intervals, the winner and its mail over time.

A scheduled broadcast is shown as it was stored (what goes out), not as its file is now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from mailengine.broadcasts.figures import METRIC_LABELS, VariantFigures, WinnerChoice
from mailengine.broadcasts.figures import metric_interval as interval_of
from mailengine.broadcasts.figures_data import report_columns, report_winner
from mailengine.broadcasts.loader import load_broadcasts
from mailengine.broadcasts.model import Broadcast, Metric
from mailengine.broadcasts.timing import when
from mailengine.engine.broadcast_facts import NOT_SCHEDULED, Audience, Fact, facts, variant_rows
from mailengine.engine.broadcast_sources import StoredBroadcastError, read_stored
from mailengine.money import decimals
from mailengine.store import broadcast_outbox
from mailengine.store import broadcast_runs as runs
from mailengine.store.audience_queries import count_condition
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.store.broadcast_overview import SoFar, mail_so_far
from mailengine.store.broadcast_report import SeriesPoint, broadcast_report
from mailengine.studio.context import StudioContext
from mailengine.studio.number_format import DASH, NumberFormat
from mailengine.workflows.audience import AudienceContext
from mailengine.workflows.problems import Problem

AUTO_HOURS = 48  # the series per hour while it spans at most two days, then per day
# Stored states in which the mail may still be held, released or dropped.
PAUSABLE = frozenset(runs.LIVE_STATES)


@dataclass(frozen=True)
class Known:
    """A broadcast as the studio knows it: its model (None when its stored source no longer
    loads), its stored row when it was scheduled, and its file's version now."""

    name: str
    broadcast: Broadcast | None
    run: BroadcastRun | None
    file_version: str | None
    file: Broadcast | None = None  # the file as it is now, when there is one that loads

    @property
    def state(self) -> str:
        return self.run.state if self.run is not None else NOT_SCHEDULED

    @property
    def schedulable(self) -> bool:
        """Its file can be scheduled: it never was, or it waits and the file has changed."""
        if self.file is None:
            return False
        return self.run is None or (self.run.state == "scheduled" and self.file_changed)

    @property
    def file_changed(self) -> bool:
        """The file was edited after it was scheduled: what goes out is the stored version."""
        if self.run is None or self.run.origin != "file" or self.file_version is None:
            return False
        return self.file_version != self.run.version


@dataclass(frozen=True)
class ListRow:
    known: Known
    when: str
    audience: int | None
    audience_planned: bool  # the count is what planning put in the outbox, not the one now
    so_far: SoFar


def known_broadcasts(context: StudioContext, session: Session) -> tuple[list[Known], list[Problem]]:
    """Every broadcast, by name: the files and the stored ones; the problems of the files
    that do not load."""
    folder = context.settings.paths.broadcasts
    loaded = load_broadcasts([folder], folder.parent)
    stored = {run.name: run for run in runs.all_runs(session)}
    found: dict[str, Known] = {}
    for name in sorted(set(loaded.broadcasts) | set(stored)):
        run = stored.get(name)
        file = loaded.broadcasts.get(name)
        model = _stored(run) if run is not None else file
        found[name] = Known(name, model, run, file.version if file else None, file)
    return list(found.values()), loaded.problems


def list_rows(context: StudioContext, session: Session) -> tuple[list[ListRow], list[Problem]]:
    known, problems = known_broadcasts(context, session)
    so_far = mail_so_far(session)
    rows = []
    for item in known:
        planned = item.run is not None and item.run.state not in ("scheduled", "cancelled")
        count = (
            item.run.planned_count if planned and item.run else _audience(context, session, item)
        )
        rows.append(
            ListRow(
                item,
                when(item.broadcast, context.settings.zone) if item.broadcast else DASH,
                count,
                bool(planned),
                so_far.get(item.name, SoFar()),
            )
        )
    return rows, problems


@dataclass(frozen=True)
class ReportRow:
    label: str
    cells: list[str]
    detail: bool = False  # a rate under its count, or a reason under `skipped`


@dataclass(frozen=True)
class BroadcastPage:
    known: Known
    facts: list[Fact]
    variants: list[dict[str, Any]]
    columns: list[str]
    report: list[ReportRow]
    winner: WinnerChoice | None
    metric_label: str
    series: list[SeriesPoint]
    bucket: str
    messages: dict[str, int] = field(default_factory=dict)

    @property
    def can_pause(self) -> bool:
        return self.known.state in PAUSABLE

    @property
    def can_resume(self) -> bool:
        return self.known.state == "paused"

    @property
    def can_cancel(self) -> bool:
        return self.known.run is not None and self.known.state != "cancelled"


def broadcast_page(
    context: StudioContext, session: Session, known: Known, numbers: NumberFormat
) -> BroadcastPage:
    settings = context.settings
    now = context.clock.now()
    model = known.broadcast
    audience = Audience(_audience(context, session, known))
    window = timedelta(days=settings.http.attribution_days)
    report = broadcast_report(session, known.name, window, now)
    rule = model.winner if model is not None else None
    metric: Metric = rule.metric if rule is not None else "clicks"
    bucket = "hour"
    series = report.series("hour", settings.zone)
    if len(series) > AUTO_HOURS:
        bucket, series = "day", report.series("day", settings.zone)
    columns = report_columns(report.variants)
    return BroadcastPage(
        known=known,
        facts=facts(model, settings.zone, now, audience, known.state, settings.currency)
        if model is not None
        else [],
        variants=variant_rows(model, audience) if model is not None else [],
        columns=list(columns),
        report=_report_rows(columns, numbers),
        winner=report_winner(report.variants, metric, settings.currency),
        metric_label=METRIC_LABELS[metric],
        series=series,
        bucket=bucket,
        messages=broadcast_outbox.outbox_states(session, known.name)
        if known.run is not None
        else {},
    )


def find_known(context: StudioContext, session: Session, name: str) -> Known | None:
    known, _ = known_broadcasts(context, session)
    return next((item for item in known if item.name == name), None)


def _stored(run: BroadcastRun) -> Broadcast | None:
    try:
        return read_stored(run)
    except StoredBroadcastError:
        return None


def _audience(context: StudioContext, session: Session, known: Known) -> int | None:
    if known.broadcast is None:
        return None
    settings = context.settings
    audience_context = AudienceContext(
        context.clock.now(), settings.zone, decimals(settings.currency)
    )
    return count_condition(session, known.broadcast.audience, audience_context, transactional=False)


_COUNTS = (
    ("planned", "Planned"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("bounced_hard", "Bounced hard"),
    ("bounced_soft", "Bounced soft"),
)
_RATES: tuple[tuple[str, str, Metric], ...] = (
    ("opened", "Opened", "opens"),
    ("clicked", "Clicked", "clicks"),
    ("conversions", "Conversions", "conversions"),
)
_AFTER = (
    ("unsubscribed", "Unsubscribed"),
    ("complained", "Complained"),
    ("skipped", "Skipped"),
    ("cancelled", "Cancelled"),
    ("paused", "Paused"),
    ("waiting", "Waiting"),
    ("failed", "Render failed"),
)


def _report_rows(columns: dict[str, VariantFigures], numbers: NumberFormat) -> list[ReportRow]:
    """The figures as `broadcast report` lays them out: counts, and each rate with its 95 %
    interval under its count."""
    found = list(columns.values())

    def count(name: str) -> list[str]:
        return [numbers.count(getattr(item, name)) for item in found]

    def rate(metric: Metric) -> list[str]:
        return [_interval(item, metric, numbers) for item in found]

    rows = [ReportRow(label, count(name)) for name, label in _COUNTS]
    for name, label, metric in _RATES:
        rows.append(ReportRow(label, count(name)))
        rows.append(ReportRow(METRIC_LABELS[metric].capitalize(), rate(metric), detail=True))
    rows.append(ReportRow("Revenue", [numbers.money(item.revenue_minor) for item in found]))
    rows.append(ReportRow(METRIC_LABELS["revenue"].capitalize(), rate("revenue"), detail=True))
    for name, label in _AFTER:
        rows.append(ReportRow(label, count(name)))
        if name == "skipped":
            reasons = sorted({reason for item in found for reason in item.skip_reasons})
            rows += [
                ReportRow(
                    reason,
                    [numbers.count(item.skip_reasons.get(reason, 0)) for item in found],
                    detail=True,
                )
                for reason in reasons
            ]
    return rows


def _interval(figures: VariantFigures, metric: Metric, numbers: NumberFormat) -> str:
    """`25.0 % (4.6–69.9)`; revenue per recipient `€12.50 (€0.00–€37.00)`."""
    found = interval_of(figures, metric)
    if found is None:
        return DASH
    if metric == "revenue":
        if found.high == float("inf"):
            return f"{numbers.money(found.estimate)} (one recipient)"
        return (
            f"{numbers.money(found.estimate)} "
            f"({numbers.money(found.low)}–{numbers.money(found.high)})"
        )
    return f"{found.estimate * 100:.1f} % ({found.low * 100:.1f}–{found.high * 100:.1f})"
