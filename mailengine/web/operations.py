"""Health and Prometheus metrics, for the process supervisor and the monitoring."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from mailengine.store.api_queries import ping
from mailengine.store.models import OUTBOX_STATES
from mailengine.store.outbox import count_by_state, pending_count
from mailengine.store.reporting import render_error_count, tracking_counts
from mailengine.store.web_models import TRACKING_KINDS
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
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class StoreCollector(Collector):
    """Reads the figures from the database at each scrape (they are shared by every process)."""

    def __init__(self, context: WebContext) -> None:
        self._context = context

    def collect(self) -> Iterable[Metric]:
        with self._context.database.session() as session:
            states = count_by_state(session)
            depth = pending_count(session)
            render_errors = render_error_count(session)
            tracking = tracking_counts(session)
        by_state = GaugeMetricFamily(
            "mailengine_outbox_messages", "Messages in the outbox, by state", labels=["state"]
        )
        for state in OUTBOX_STATES:
            by_state.add_metric([state], states.get(state, 0))
        yield by_state
        yield GaugeMetricFamily(
            "mailengine_outbox_queue_depth",
            "Messages queued, being sent or deferred (not yet final)",
            value=depth,
        )
        yield GaugeMetricFamily(
            "mailengine_render_errors",
            "Messages that failed because their template did not render",
            value=render_errors,
        )
        events = CounterMetricFamily(
            "mailengine_tracking_events",
            "Opens, clicks, bounces, complaints and unsubscribes recorded against sends",
            labels=["kind"],
        )
        for kind in TRACKING_KINDS:
            events.add_metric([kind], tracking.get(kind, 0))
        yield events
        if self._context.inbound_counts is not None:
            inbound = CounterMetricFamily(
                "mailengine_inbound_messages",
                "Inbound messages handled, by outcome",
                labels=["outcome"],
            )
            for outcome, count in sorted(self._context.inbound_counts().items()):
                inbound.add_metric([outcome], count)
            yield inbound


def metrics_registry(context: WebContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(context))
    return registry
