"""The hot paths of `POST /v1/events`, `/v1/events:batch` and `/v1/orders`: a well-formed,
authorised request skips FastAPI's routing.

Profiled under load, FastAPI's routing, dependency solving and response machinery took about
half of the time of a single event, several times what storing it costs once commits are
grouped (`web.intake`). This ASGI middleware takes the request a shop's backend sends all
day — a JSON body that validates, a known Bearer key, a well-formed Idempotency-Key, no query
string — and stores it with the same code as the route (`event_api.single_event` and
`event_answer`, `event_api.batch_answer`, `api.order_answer`), answering the same body and
headers. Anything else (no key, a refused field, another content type) goes on to the FastAPI
route unchanged, so every refusal is answered, and documented, in one place.

May import: web.api, web.event_api, web.api_keys, web.request_limits, web.context, web.schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from mailengine.web.api import order_answer
from mailengine.web.api_keys import hash_api_key, is_known_key
from mailengine.web.context import WebContext
from mailengine.web.event_api import (
    MOST_IN_A_BATCH,
    EventBatchIn,
    batch_answer,
    event_answer,
    single_event,
)
from mailengine.web.request_limits import ASGIApp, Receive, Scope, Send, replay_body
from mailengine.web.schemas import EventIn, OrderIn

# The paths taken here: what checks a body (an exception: leave it to the route) and returns
# what stores it and answers.
Take = Callable[[WebContext, bytes, str, str | None], Awaitable[Response]]


def _take_event(
    context: WebContext, body: bytes, client: str, key: str | None
) -> Awaitable[Response]:
    return event_answer(
        context, single_event(context, EventIn.model_validate_json(body), client, key)
    )


def _take_order(
    context: WebContext, body: bytes, client: str, key: str | None
) -> Awaitable[Response]:
    return order_answer(context, OrderIn.model_validate_json(body), client, key)


def _take_event_batch(
    context: WebContext, body: bytes, client: str, key: str | None
) -> Awaitable[Response]:
    """A body of just `events`, a list of 1 to 1,000 objects: each is checked on its own by
    `batch_answer`, so the list need not go through the model (a copy of every item)."""
    parsed = json.loads(body)
    events = parsed.get("events") if type(parsed) is dict and len(parsed) == 1 else None
    if type(events) is not list or not 1 <= len(events) <= MOST_IN_A_BATCH:
        raise ValueError("left to the route")
    if any(type(item) is not dict for item in events):
        raise ValueError("left to the route")
    return batch_answer(context, EventBatchIn.model_construct(events=events), client, key)


PATHS: dict[str, Take] = {
    "/v1/events": _take_event,
    "/v1/events:batch": _take_event_batch,
    "/v1/orders": _take_order,
}
# What the route's Idempotency-Key header declares (web.idempotency): 1-200 visible ASCII.
_KEY_FORM = re.compile(rb"^[!-~]{1,200}$")


class ApiFastPath:
    """ASGI middleware in front of the app: takes the common event and order itself."""

    def __init__(self, app: ASGIApp, context: WebContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        take = _taker(scope)
        if take is None:
            await self.app(scope, receive, send)
            return
        read = await _read(receive)
        if read is None:
            return
        body, receive = read
        answering = self._taken(take, scope, body)
        if answering is None:
            await self.app(scope, receive, send)
            return
        response = await answering
        await response(scope, receive, send)

    def _taken(self, take: Take, scope: Scope, body: bytes) -> Awaitable[Response] | None:
        """What stores the request and answers, or None when anything about the request needs
        the route's answer."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in headers:  # a repeated header: the route decides what it means
                return None
            headers[name] = value
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            return None
        client = self._client(headers.get(b"authorization"))
        key = headers.get(b"idempotency-key")
        if client is None or (key is not None and not _KEY_FORM.match(key)):
            return None
        try:
            return take(self.context, body, client, key.decode() if key else None)
        except (ValidationError, RequestValidationError, HTTPException, ValueError):
            return None

    def _client(self, authorization: bytes | None) -> str | None:
        """The hash of a known Bearer key (what the route's `api_client` gives), else None."""
        if authorization is None:
            return None
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None
        digest = hash_api_key(credentials)
        known = self.context.api_key_hashes
        return digest if known and is_known_key(digest, known) else None


def _taker(scope: Scope) -> Take | None:
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
        return None
    return PATHS.get(scope["path"])


async def _read(receive: Receive) -> tuple[bytes, Receive] | None:
    """The whole body (already capped by `RequestLimits`) and a receive that gives it again;
    None when the client went away meanwhile."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            body = b"".join(chunks)
            return body, replay_body(body, receive)
