"""`POST /v1/events` and `POST /v1/events:batch`: custom events in, stored for the engine.

Both answer only once the events are committed, and both go through the app's intake
(`web.intake`): concurrent single events share a transaction, and a batch is one transaction
(shared with whatever else is waiting). A single event's Idempotency-Key makes a retry a
replay of the first answer; a batch's key does the same for the whole batch, and each of
its events is stored once under its `id` (or, without one, under the batch's key and its
position). Each item of a batch is checked on its own: a refused item names its field and
the others are stored.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.store.event_intake import IncomingEvent, store_events
from mailengine.web.api_keys import Client, api_router
from mailengine.web.context import WebContext, web_context
from mailengine.web.idempotency import (
    Answer,
    IdempotencyKey,
    answer_once_grouped,
    hash_request,
    response_of,
)
from mailengine.web.schemas import (
    RESERVED_EVENT_TYPES,
    EventIn,
    EventOut,
    checked_json_data,
    event_email,
    event_type,
)

SINGLE = "POST /v1/events"
BATCH = "POST /v1/events:batch"
MOST_IN_A_BATCH = 1_000

router = api_router()


class EventBatchIn(BaseModel):
    events: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MOST_IN_A_BATCH)]


class ItemResult(BaseModel):
    status: Literal["accepted", "replayed", "refused"]
    event_id: int | None = None
    customer_id: int | None = None
    field: list[str | int] | None = None
    reason: str | None = None


class EventBatchOut(BaseModel):
    accepted: int
    replayed: int
    refused: int
    results: list[ItemResult]


@router.post("/events", response_model=EventOut, status_code=202, summary="Record a custom event")
async def post_event(
    body: EventIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Stored for the engine, which enrolls the customer in workflows the event triggers.
    An event `id` (or else the Idempotency-Key) is stored once. Answered once committed."""
    context = web_context(request)
    return await event_answer(context, single_event(context, body, client, key))


async def event_answer(context: WebContext, event: IncomingEvent) -> JSONResponse:
    """Store `event` in the intake's next group commit; the answer, once committed."""
    [answer] = await context.intake.store([event], store_events, SINGLE)
    return response_of(answer)


@router.post(
    "/events:batch",
    response_model=EventBatchOut,
    summary="Record up to 1,000 custom events in one transaction",
)
async def post_event_batch(
    body: EventBatchIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Each event is checked on its own and gets a result in order: `accepted`, `replayed`
    (its `id` was stored before) or `refused` with the field. The accepted ones are stored in
    one transaction; the answer comes once it is committed."""
    return await batch_answer(web_context(request), body, client, key)


async def batch_answer(
    context: WebContext, body: EventBatchIn, client: str, key: str | None
) -> JSONResponse:
    """Check each event of the batch, store the good ones in the intake's next group commit;
    the answer, once committed."""
    now = context.clock.now()
    results: list[dict[str, Any] | None] = []
    events: list[IncomingEvent] = []
    for position, raw in enumerate(body.events):
        checked = _checked_item(context, raw, position, client, key, now)
        if isinstance(checked, dict):
            results.append(checked)
        else:
            events.append(checked)
            results.append(None)

    def work(session: Session) -> Answer:
        answers = iter(store_events(session, events, BATCH, now))
        filled = [result or _item_result(next(answers).body) for result in results]
        counts = Counter(item["status"] for item in filled)
        out = {"accepted": counts["accepted"], "replayed": counts["replayed"],
               "refused": counts["refused"], "results": filled}  # fmt: skip
        return Answer(200, out)

    return await answer_once_grouped(context, client, key, BATCH, body, work)


def single_event(context: WebContext, body: EventIn, client: str, key: str | None) -> IncomingEvent:
    """The event of a `POST /v1/events` body; an HTTPException (422) names a refused field."""
    kind, email = event_type(body), event_email(body)
    return _incoming(
        context, body, kind, email, client, context.clock.now(), request_key=key,
        request_hash=hash_request(SINGLE, body), event_key=_event_key(body.id, client, key),
    )  # fmt: skip


def _checked_item(
    context: WebContext, raw: dict[str, Any], position: int, client: str, key: str | None,
    now: datetime,
) -> IncomingEvent | dict[str, Any]:  # fmt: skip
    """The event of a batch's item, or its `refused` result naming the field."""
    item_key = f"{key}:{position}" if key else None
    plain = _plain_item(raw)
    if plain is not None:
        kind, email, data, own_id = plain
        return IncomingEvent(
            client=client, request_key=None, request_hash="", email=email, type=kind,
            data=data, occurred_at=now, event_key=_event_key(own_id, client, item_key),
        )  # fmt: skip
    where: list[str | int] = ["body", "events", position]
    try:
        item = EventIn.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        return _refused([*where, *first["loc"]], first["msg"])
    if item.type in RESERVED_EVENT_TYPES:
        return _refused([*where, "type"], f"'{item.type}' is recorded by the store itself")
    try:
        email = normalize_email(item.email)
    except InvalidAddressError as error:
        return _refused([*where, "email"], str(error))
    return _incoming(context, item, item.type, email, client, now, request_key=None,
                     request_hash="", event_key=_event_key(item.id, client, item_key))  # fmt: skip


def _plain_item(raw: dict[str, Any]) -> tuple[str, str, dict[str, Any], str | None] | None:
    """(type, address, data, id) of an item in the common form (no `occurred_at`) that plainly
    passes `EventIn` and the route's checks; None for anything to check closely, so that
    every refusal comes from the model. Checking each item of a batch with the model cost
    more than storing it."""
    if not raw.keys() <= _PLAIN_FIELDS:
        return None
    kind, email, own_id = raw.get("type"), raw.get("email"), raw.get("id")
    data = raw.get("data", {})
    if type(kind) is not str or not _TYPE.fullmatch(kind) or kind in RESERVED_EVENT_TYPES:
        return None
    if type(email) is not str or not 3 <= len(email) <= 254 or type(data) is not dict:
        return None
    if own_id is not None and (type(own_id) is not str or not _OWN_ID.fullmatch(own_id)):
        return None
    try:
        return kind, normalize_email(email), checked_json_data(data), own_id
    except ValueError:  # InvalidAddressError too
        return None


# What `EventIn` declares for these fields (its patterns, which match the whole value).
_PLAIN_FIELDS = frozenset({"type", "email", "data", "id"})
_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,99}")
_OWN_ID = re.compile(r"[!-~]{1,100}")


def _refused(field: list[str | int], reason: str) -> dict[str, Any]:
    return {"status": "refused", "field": field, "reason": reason}


def _item_result(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "replayed" if body["duplicate"] else "accepted",
        "event_id": body["event_id"],
        "customer_id": body["customer_id"],
    }


def _incoming(
    context: WebContext,
    body: EventIn,
    kind: str,
    email: str,
    client: str,
    now: datetime,
    *,
    request_key: str | None,
    request_hash: str,
    event_key: str | None,
) -> IncomingEvent:
    occurred_at = body.occurred_at or now
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=context.settings.zone)
    return IncomingEvent(
        client=client, request_key=request_key, request_hash=request_hash, email=email,
        type=kind, data=body.data, occurred_at=occurred_at, event_key=event_key,
    )  # fmt: skip


def _event_key(own_id: str | None, client: str, key: str | None) -> str | None:
    if own_id is not None:
        return f"event:{own_id}"
    if key is not None:
        return f"event:{client[:16]}:{key}"
    return None
