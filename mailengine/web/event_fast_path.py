"""The hot path of `POST /v1/events`: a well-formed, authorised event skips FastAPI's routing.

Profiled under load, FastAPI's routing, dependency solving and response machinery took about
half of the time of a single event, several times what storing it costs once commits are
grouped (`web.intake`). This ASGI middleware takes the request a shop's backend sends all
day — a JSON body that validates, a known Bearer key, a well-formed Idempotency-Key, no query
string — and stores it with the same code as the route (`event_api.single_event`), answering
the same body and headers. Anything else (no key, a refused field, another content type) goes
on to the FastAPI route unchanged, so every refusal is answered, and documented, in one place.

May import: web.event_api, web.api_keys, web.request_limits, web.context, web.schemas.
"""

from __future__ import annotations

import json
import re

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mailengine.store.event_intake import IncomingEvent
from mailengine.web.api_keys import hash_api_key, is_known_key
from mailengine.web.context import WebContext
from mailengine.web.event_api import SINGLE, single_event
from mailengine.web.idempotency import REPLAYED_HEADER
from mailengine.web.request_limits import ASGIApp, Receive, Scope, Send, replay_body
from mailengine.web.schemas import EventIn

PATH = "/v1/events"
# What the route's Idempotency-Key header declares (web.idempotency): 1-200 visible ASCII.
_KEY_FORM = re.compile(rb"^[!-~]{1,200}$")


class EventFastPath:
    """ASGI middleware in front of the app: takes the common `POST /v1/events` itself."""

    def __init__(self, app: ASGIApp, context: WebContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_candidate(scope):
            await self.app(scope, receive, send)
            return
        read = await _read(receive)
        if read is None:
            return
        body, receive = read
        event = self._event(scope, body)
        if event is None:
            await self.app(scope, receive, send)
            return
        [answer] = await self.context.intake.store_events([event], SINGLE)
        headers = {REPLAYED_HEADER: "true"} if answer.replayed else {}
        await _send_json(send, answer.status_code, answer.body, headers)

    def _event(self, scope: Scope, body: bytes) -> IncomingEvent | None:
        """The event, or None when anything about the request needs the route's answer."""
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
            parsed = EventIn.model_validate_json(body)
            return single_event(self.context, parsed, client, key.decode() if key else None)
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


def _is_candidate(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and scope["path"] == PATH
        and not scope.get("query_string")
    )


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


async def _send_json(send: Send, status: int, content: object, headers: dict[str, str]) -> None:
    payload = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("ascii")),
    ]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
