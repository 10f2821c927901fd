"""The application factory: one FastAPI app per engine process, its options passed in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from mailengine import __version__
from mailengine.broadcasts.model import Broadcast
from mailengine.clock import Clock, SystemClock
from mailengine.config import Settings
from mailengine.outbound import Composer
from mailengine.polls.loader import load_polls
from mailengine.render.assets import ASSETS_FOLDER, AssetCatalog
from mailengine.render.library import TemplateLibrary
from mailengine.secret import secret_key
from mailengine.store.api_queries import ConfirmationMail
from mailengine.store.database import Database
from mailengine.web import (
    api,
    broadcast_api,
    docs,
    event_api,
    links,
    operations,
    order_batch_api,
    poll_pages,
    questionnaire_pages,
    tracking,
)
from mailengine.web.api_fast_path import ApiFastPath
from mailengine.web.assets import add_asset_routes
from mailengine.web.context import BroadcastCheck, PreferenceTopic, WebContext, broadcast_topic
from mailengine.web.hosted import add_hosted_copy_routes
from mailengine.web.request_limits import RequestLimits
from mailengine.workflows.model import Workflow


def create_app(
    settings: Settings,
    database: Database,
    *,
    api_key_hashes: Iterable[str] = (),
    scheduler_running: Callable[[], bool] | None = None,
    inbound_counts: Callable[[], Mapping[str, int]] | None = None,
    double_opt_in: bool = False,
    topics: Sequence[PreferenceTopic] = (),
    clock: Clock | None = None,
    secret: bytes | None = None,
    broadcast_check: BroadcastCheck | None = None,
    on_stored: Callable[[], None] | None = None,
) -> FastAPI:
    """The HTTP app.

    `api_key_hashes`: sha256 hex of the accepted API keys (see `api_keys.hash_api_key`); none
    means the /v1 API refuses every request. `scheduler_running` feeds /healthz,
    `inbound_counts` /metrics. `topics` are the kinds of mail the preferences and unsubscribe
    pages name (see `topics_from_workflows` and `topics_from_broadcasts`); the topics of
    broadcasts stored since are added as they come. `broadcast_check` is what a broadcast
    sent to `POST /v1/broadcasts` must pass (`engine.broadcast_checks`); without it that
    endpoint answers 503. `on_stored` is called (from the API's writer thread) once events or
    orders are committed: `mailengine run` wakes its engine with it.
    """
    context = WebContext(
        settings=settings,
        database=database,
        clock=clock or SystemClock(),
        secret=secret if secret is not None else secret_key(settings),
        api_key_hashes=frozenset(digest.strip().lower() for digest in api_key_hashes),
        topics=tuple(topics),
        confirmation=ConfirmationMail(domain=settings.sender.domain) if double_opt_in else None,
        scheduler_running=scheduler_running,
        inbound_counts=inbound_counts,
        broadcast_check=broadcast_check,
        on_stored=on_stored,
        asking=load_polls([settings.paths.polls], [settings.paths.questionnaires]),
    )
    app = FastAPI(
        title="mailengine",
        version=__version__,
        summary="Customers, orders and events in; unsubscribe, preferences and tracking out.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.http.docs else None,
    )
    app.add_exception_handler(RequestValidationError, _refused)
    app.add_middleware(ApiFastPath, context=context)  # inside the limits
    app.add_middleware(RequestLimits, max_bytes=settings.http.max_body_bytes)
    app.state.web = context
    app.state.metrics = operations.metrics_registry(context)
    app.include_router(api.router)
    app.include_router(event_api.router)
    app.include_router(order_batch_api.router)
    app.include_router(broadcast_api.router)
    app.include_router(links.router)
    app.include_router(poll_pages.router)
    app.include_router(questionnaire_pages.router)
    app.include_router(tracking.router)
    app.include_router(operations.router)
    app.mount(docs.STATIC_PATH, StaticFiles(directory=docs.STATIC_FOLDER), name="static")
    if settings.http.docs:
        app.include_router(docs.router)
    add_asset_routes(app, AssetCatalog(settings.paths.templates / ASSETS_FOLDER))
    library = TemplateLibrary(settings.paths.templates)
    add_hosted_copy_routes(app, Composer(settings, library, context.secret))
    return app


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a refused body may hold lone surrogates."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _refused(request: Request, error: Exception) -> Response:
    """422 naming each refused field; unlike the default, the refused input is not echoed."""
    if not isinstance(error, RequestValidationError):
        raise error
    detail = [
        {
            "loc": list(item.get("loc", ())),
            "msg": str(item.get("msg", "")),
            "type": item.get("type"),
        }
        for item in error.errors()
    ]
    return AsciiJSONResponse({"detail": detail}, status_code=422)


def topics_from_workflows(workflows: Iterable[Workflow]) -> list[PreferenceTopic]:
    """One topic per workflow, by name, as its `public:` block presents it to customers (by
    its name without one; the `description` is for the team, never shown). Marketing
    workflows are choices; transactional ones are service mail, sent whatever is chosen."""
    return [
        PreferenceTopic(
            name=workflow.name,
            label=(
                workflow.public.title
                if workflow.public
                else workflow.name.replace("-", " ").capitalize()
            ),
            description=workflow.public.blurb if workflow.public else "",
            service=workflow.transactional,
        )
        for workflow in sorted(workflows, key=lambda item: item.name)
    ]


def topics_from_broadcasts(broadcasts: Iterable[Broadcast]) -> list[PreferenceTopic]:
    """One topic per topic the broadcasts name (newsletter, promotions...), by name."""
    return [broadcast_topic(name) for name in sorted({item.topic for item in broadcasts})]
