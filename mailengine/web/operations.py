"""Health and Prometheus metrics, for the process supervisor and the monitoring."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from mailengine.delivery_faults import FAULT_CLASSES
from mailengine.store.api_queries import ping
from mailengine.store.models import OUTBOX_STATES
from mailengine.store.outbox_health import CLASSIFIED_STATES, OutboxHealth, outbox_health
from mailengine.store.reporting import render_error_count, tracking_counts
from mailengine.store.web_models import TRACKING_KINDS
from mailengine.store.workflow_files import BrokenFile, broken_files
from mailengine.web.context import WebContext, web_context

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Health: database reachable, scheduler running",
    responses={503: {"description": "Something the engine needs is down"}},
)
def healthz(request: Request) -> JSONResponse:
    context = web_context(request)
    checks: dict[str, str] = {}
    try:
        with context.database.session() as session:
            ping(session)
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
    if context.scheduler_running is None:
        checks["scheduler"] = "not in this process"
    else:
        checks["scheduler"] = "running" if context.scheduler_running() else "stopped"
    healthy = checks["database"] == "ok" and checks["scheduler"] != "stopped"
    return JSONResponse(
        {"status": "ok" if healthy else "failing", **checks},
        status_code=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """With `http.metrics_token` set, only a scraper that presents it as a bearer token."""
    token = web_context(request).settings.http.metrics_token
    if token is not None and not _bearer_matches(request, token.get_secret_value()):
        return JSONResponse(
            {"detail": "/metrics wants the bearer token of http.metrics_token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode()
    )


@dataclass(frozen=True)
class _StoreFigures:
    outbox: OutboxHealth
    render_errors: int
    tracking: dict[str, int]
    broken: list[BrokenFile]
    read_at: datetime


class StoreCollector(Collector):
    """Reads the figures from the database (they are shared by every process), at most once
    in `http.metrics_cache_seconds` however often and however many scrapers ask."""

    def __init__(self, context: WebContext) -> None:
        self._context = context
        self._figures: _StoreFigures | None = None
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def figures(self) -> _StoreFigures:
        keep = self._context.settings.http.metrics_cache_seconds
        with self._lock:
            if self._figures is None or time.monotonic() - self._read_at >= keep:
                with self._context.database.session() as session:
                    self._figures = _StoreFigures(
                        outbox_health(session),
                        render_error_count(session),
                        tracking_counts(session),
                        broken_files(session),
                        self._context.clock.now(),
                    )
                self._read_at = time.monotonic()
            return self._figures

    def collect(self) -> Iterable[Metric]:
        figures = self.figures()
        outbox, tracking = figures.outbox, figures.tracking
        yield from outbox_metrics(outbox, figures.read_at)
        yield GaugeMetricFamily(
            "mailengine_render_errors",
            "Messages that failed because their template did not render",
            value=figures.render_errors,
        )
        events = CounterMetricFamily(
            "mailengine_tracking_events",
            "Opens, clicks, bounces, complaints and unsubscribes recorded against sends",
            labels=["kind"],
        )
        for kind in TRACKING_KINDS:
            events.add_metric([kind], tracking.get(kind, 0))
        yield events
        yield from broken_file_metrics(figures.broken)
        if self._context.inbound_counts is not None:
            inbound = CounterMetricFamily(
                "mailengine_inbound_messages",
                "Inbound messages handled, by outcome",
                labels=["outcome"],
            )
            for outcome, count in sorted(self._context.inbound_counts().items()):
                inbound.add_metric([outcome], count)
            yield inbound


def outbox_metrics(outbox: OutboxHealth, now: datetime) -> Iterable[Metric]:
    """Messages by state, deferred and failed ones by fault class, and the longest waits."""
    by_state = GaugeMetricFamily(
        "mailengine_outbox_messages", "Messages in the outbox, by state", labels=["state"]
    )
    for state in OUTBOX_STATES:
        by_state.add_metric([state], outbox.count(state))
    yield by_state
    yield GaugeMetricFamily(
        "mailengine_outbox_queue_depth",
        "Messages queued, being sent or deferred (not yet final)",
        value=outbox.pending,
    )
    for state in CLASSIFIED_STATES:
        by_class = GaugeMetricFamily(
            f"mailengine_outbox_{state}_messages",
            f"Messages {state}, by the fault class of their last attempt",
            labels=["reason"],
        )
        counts = outbox.classes(state)
        for fault in FAULT_CLASSES:
            by_class.add_metric([fault], counts.get(fault, 0))
        yield by_class
    overdue = GaugeMetricFamily(
        "mailengine_outbox_oldest_due_age_seconds",
        "How long the message due longest ago has waited since it was due (0: none due)",
        labels=["state"],
    )
    oldest = GaugeMetricFamily(
        "mailengine_outbox_oldest_age_seconds",
        "Age of the oldest message, since it was planned (sending: since it was claimed)",
        labels=["state"],
    )
    for state in ("queued", "deferred"):
        overdue.add_metric([state], outbox.overdue_seconds(state, now))
    for state in ("queued", "sending", "deferred"):
        oldest.add_metric([state], outbox.age_seconds(state, now))
    yield overdue
    yield oldest


def broken_file_metrics(broken: Sequence[BrokenFile]) -> Iterable[Metric]:
    """The workflow files the engine found broken at its last start or reload: how many, how
    many run nothing in their place, and one series per file."""
    yield GaugeMetricFamily(
        "mailengine_workflow_files_broken",
        "Workflow files found broken at the engine's last start or reload",
        value=len(broken),
    )
    yield GaugeMetricFamily(
        "mailengine_workflow_files_not_running",
        "Broken workflow files with no stored version running in their place",
        value=sum(1 for found in broken if found.running_version is None),
    )
    per_file = GaugeMetricFamily(
        "mailengine_workflow_file_broken",
        "A broken workflow file (1), and what runs in its place: its stored version or nothing",
        labels=["file", "workflow", "running"],
    )
    for found in broken:
        running = "stored version" if found.running_version is not None else "nothing"
        per_file.add_metric([found.path, found.workflow or "", running], 1)
    yield per_file


def metrics_registry(context: WebContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(context))
    return registry
