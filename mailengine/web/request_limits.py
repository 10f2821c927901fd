"""Caps on request bodies, applied before routing, authentication or parsing.

FastAPI resolves a route's body before its dependencies run, so without this a 100 MB JSON
body with no API key was read and parsed before the 401. This ASGI middleware refuses a body
whose `Content-Length` is over the cap at once, and counts the bytes of any other body as
they stream in, answering 413 as soon as the count passes the cap: at most `max_bytes` of one
request is ever held. A JSON body nested deeper than any request needs is refused with a 422
naming its top-level field before a recursive parser sees it (Python's gives up near 1,000
levels, which FastAPI answers with a bare 400). A body within the caps reaches the app as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body passed the cap while it was being read."""


# Deeper than any request body of the API (free-form data is capped at 16 levels by the
# schemas, which name the field); far below where parsers and serializers give up.
MAX_JSON_NESTING = 64
# A JSON string as a whole (so brackets inside strings are skipped), or one bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class RequestLimits:
    """ASGI middleware: 413 for a body of more than `max_bytes`, 422 for JSON nested deeper
    than MAX_JSON_NESTING."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        try:
            body = await _read_body(receive, self.max_bytes)
        except BodyTooLarge:
            await self._refuse(send)
            return
        field = too_deep_field(body) if _is_json(scope) else None
        if field is not None:
            problem = {
                "loc": ["body", field] if field else ["body"],
                "msg": f"nests objects and lists more than {MAX_JSON_NESTING} levels deep",
                "type": "value_error",
            }
            await _answer(send, 422, {"detail": [problem]})
            return
        await self.app(scope, replay_body(body, receive), send)

    async def _refuse(self, send: Send) -> None:
        detail = f"the request body is over {self.max_bytes} bytes (http.max_body_bytes)"
        await _answer(send, 413, {"detail": detail})


def too_deep_field(body: bytes) -> str | None:
    """None when `body` nests at most MAX_JSON_NESTING deep; else the top-level key under
    which it goes deeper ("" when that is not an object's key). Malformed JSON is left to
    the parser, which refuses it."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_NESTING or _shallow(body):
        return None
    depth = 0
    key = ""
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_NESTING:
                return key
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth == 1:
            key = token[1:-1].decode("utf-8", "replace")[:60]
    return None


# Every byte but the four brackets, and the brackets as one kind of pair.
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_AS_PAIRS = bytes.maketrans(b"[]{}", b"()()")


def _shallow(body: bytes) -> bool:
    """True when the brackets of `body` nest at most MAX_JSON_NESTING deep; False also when
    a string's brackets unbalance them (then the tokens are walked). Each pass takes away the
    innermost pairs, so a body nested n deep is empty after n passes; in C, a 1,000-event
    batch in well under a millisecond against ~12 ms for the walk over its tokens."""
    brackets = body.translate(_AS_PAIRS, _NOT_BRACKETS)
    for _ in range(MAX_JSON_NESTING):
        if not brackets:
            return True
        brackets = brackets.replace(b"()", b"")
    return not brackets


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _answer(send: Send, status: int, content: object) -> None:
    payload = json.dumps(content).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as more than `max_bytes` have arrived."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive callable that gives the app the body read already, then the real stream."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
