"""One transaction per API request, and the Idempotency-Key that makes a retry a no-op.

The first request with a key stores its answer in the same transaction as its writes; a retry
with the same key and body gets that answer again (header `Idempotent-Replayed: true`) and
writes nothing; the same key with another body is a 409. Refused bodies (422) are not stored,
so a client may correct the body and retry with the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from mailengine.store.api_queries import reserve_idempotency_key, save_answer
from mailengine.store.keyed_requests import RequestAnswer
from mailengine.web.context import WebContext

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Any unique text (a UUID): a retried request with the same key is a no-op.",
    ),
]


@dataclass(frozen=True)
class Answer:
    """What a request answers. `body` is the response model, or for a big answer (a batch's
    thousand results) the plain data the model describes, which skips building the model."""

    status_code: int
    body: BaseModel | dict[str, Any]
    customer_id: int | None = None
    exclude_none: bool = False


def answer_once(
    context: WebContext,
    client: str,
    key: str | None,
    endpoint: str,
    request: BaseModel | str,
    work: Callable[[Session], Answer],
) -> JSONResponse:
    """Run `work` in one transaction, at most once per (client, key). `request` is the body
    (a model, or the text a handler reads itself) that a retry must repeat."""
    now = context.clock.now()
    request_hash = hash_request(endpoint, request)
    with context.database.transaction() as session:
        return answer_in(session, client, key, endpoint, request_hash, now, work)


async def answer_once_grouped(
    context: WebContext,
    client: str,
    key: str | None,
    endpoint: str,
    request: BaseModel | str,
    work: Callable[[Session], Answer],
) -> JSONResponse:
    """`answer_once` in the intake's next group commit (`web.intake`), shared with other
    requests' writes; answered once committed."""
    now = context.clock.now()
    request_hash = hash_request(endpoint, request)

    def grouped(session: Session) -> JSONResponse:
        return answer_in(session, client, key, endpoint, request_hash, now, work)

    response: JSONResponse = await context.intake.run(grouped)
    return response


def response_of(answer: RequestAnswer) -> JSONResponse:
    """The HTTP answer of a request stored by the intake (a replay says so in a header)."""
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def hash_request(endpoint: str, request: BaseModel | str) -> str:
    """What a retry with the same Idempotency-Key must repeat: the endpoint and the body."""
    text = request if isinstance(request, str) else request.model_dump_json()
    return hashlib.sha256(f"{endpoint}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def answer_in(
    session: Session,
    client: str,
    key: str | None,
    endpoint: str,
    request_hash: str,
    now: datetime,
    work: Callable[[Session], Answer],
) -> JSONResponse:
    """Run `work` in `session` unless (client, key) was answered before: then that answer
    again, or 409 when the key came with another request."""
    if key is not None:
        stored = reserve_idempotency_key(session, client, key, endpoint, request_hash, now)
        if stored is not None:
            if stored.endpoint != endpoint or stored.request_hash != request_hash:
                return JSONResponse(
                    {"detail": "this Idempotency-Key was used for a different request"},
                    status_code=409,
                )
            return JSONResponse(
                stored.response, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"}
            )
    answer = work(session)
    body = (
        answer.body
        if isinstance(answer.body, dict)
        else answer.body.model_dump(mode="json", exclude_none=answer.exclude_none)
    )
    if key is not None:
        save_answer(session, client, key, answer.status_code, body, answer.customer_id)
    return JSONResponse(body, status_code=answer.status_code)
