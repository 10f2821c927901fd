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
    JsonObject,
    event_email,
    event_type,
)

SINGLE = "POST /v1/events"
BATCH = "POST /v1/events:batch"
MOST_IN_A_BATCH = 1_000

router = api_router()


class EventBatchIn(BaseModel):
    events: Annotated[list[JsonObject], Field(min_length=1, max_length=MOST_IN_A_BATCH)]


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
    context = web_context(request)
    now = context.clock.now()
    results: list[ItemResult | None] = []
    events: list[IncomingEvent] = []
    for position, raw in enumerate(body.events):
        checked = _checked_item(raw, position)
        if isinstance(checked, ItemResult):
            results.append(checked)
            continue
        item, kind, email = checked
        item_key = _event_key(item, client, f"{key}:{position}" if key else None)
        events.append(_incoming(context, item, kind, email, client, now, request_key=None,
                                request_hash="", event_key=item_key))  # fmt: skip
        results.append(None)

    def work(session: Session) -> Answer:
        answers = iter(store_events(session, events, BATCH, now))
        filled = [result or _item_result(next(answers).body) for result in results]
        out = EventBatchOut(
            accepted=sum(1 for item in filled if item.status == "accepted"),
            replayed=sum(1 for item in filled if item.status == "replayed"),
            refused=sum(1 for item in filled if item.status == "refused"),
            results=filled,
        )
        return Answer(200, out, exclude_none=True)

    return await answer_once_grouped(context, client, key, BATCH, body, work)


def single_event(context: WebContext, body: EventIn, client: str, key: str | None) -> IncomingEvent:
    """The event of a `POST /v1/events` body; an HTTPException (422) names a refused field."""
    kind, email = event_type(body), event_email(body)
    return _incoming(
        context, body, kind, email, client, context.clock.now(), request_key=key,
        request_hash=hash_request(SINGLE, body), event_key=_event_key(body, client, key),
    )  # fmt: skip


def _checked_item(raw: dict[str, Any], position: int) -> tuple[EventIn, str, str] | ItemResult:
    where: list[str | int] = ["body", "events", position]
    try:
        item = EventIn.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        return ItemResult(status="refused", field=[*where, *first["loc"]], reason=first["msg"])
    if item.type in RESERVED_EVENT_TYPES:
        reason = f"'{item.type}' is recorded by the store itself"
        return ItemResult(status="refused", field=[*where, "type"], reason=reason)
    try:
        email = normalize_email(item.email)
    except InvalidAddressError as error:
        return ItemResult(status="refused", field=[*where, "email"], reason=str(error))
    return item, item.type, email


def _item_result(body: dict[str, Any]) -> ItemResult:
    return ItemResult(
        status="replayed" if body["duplicate"] else "accepted",
        event_id=body["event_id"],
        customer_id=body["customer_id"],
    )


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


def _event_key(body: EventIn, client: str, key: str | None) -> str | None:
    if body.id is not None:
        return f"event:{body.id}"
    if key is not None:
        return f"event:{client[:16]}:{key}"
    return None
