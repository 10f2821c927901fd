"""The shop's API: customers, orders and custom events, recorded for the engine to act on.

Handlers are plain `def`: FastAPI runs them in its thread pool, so the synchronous database
work never blocks the event loop that also runs the scheduler and the dispatcher.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from mailengine.store.api_queries import write_customer, write_event, write_order
from mailengine.web.api_keys import api_client
from mailengine.web.context import web_context
from mailengine.web.idempotency import Answer, IdempotencyKey, answer_once
from mailengine.web.schemas import (
    CustomerIn,
    CustomerOut,
    EventIn,
    EventOut,
    OrderIn,
    OrderOut,
    Problem,
    customer_record,
    event_email,
    event_type,
    order_record,
)

Client = Annotated[str, Depends(api_client)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key, or an unknown one"},
    409: {"model": Problem, "description": "The Idempotency-Key was used for another request"},
}

router = APIRouter(prefix="/v1", tags=["api"], responses=ERRORS)


@router.post(
    "/customers",
    response_model=CustomerOut,
    summary="Insert or update a customer",
    responses={201: {"model": CustomerOut, "description": "A new customer"}},
)
def post_customer(
    body: CustomerIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Upsert by e-mail address. A new customer emits `customer.created`. With double opt-in
    on, a "granted" consent is stored as "pending" and a confirmation mail is planned."""
    context = web_context(request)
    now = context.clock.now()
    record = customer_record(body, context.settings.zone, now)

    def work(session: Session) -> Answer:
        written = write_customer(session, record, now, context.confirmation)
        out = CustomerOut(
            customer_id=written.customer_id,
            created=written.created,
            consent=written.consent_status,
            confirmation=written.confirmation,
        )
        return Answer(201 if written.created else 200, out, written.customer_id)

    return answer_once(context, client, key, "POST /v1/customers", body, work)


@router.post(
    "/orders",
    response_model=OrderOut,
    summary="Insert or update an order",
    responses={201: {"model": OrderOut, "description": "A new order"}},
)
def post_order(
    body: OrderIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Upsert by external id and refresh the customer's figures; a new order emits
    `order.placed`. An unknown address gets a bare customer without consent."""
    context = web_context(request)
    now = context.clock.now()
    record = order_record(body, context.settings.zone, context.settings.currency, now)

    def work(session: Session) -> Answer:
        written = write_order(session, record, now)
        out = OrderOut(
            customer_id=written.customer_id,
            external_id=record.external_id,
            created=written.created,
            event_id=written.event_id,
        )
        return Answer(201 if written.created else 200, out, written.customer_id)

    return answer_once(context, client, key, "POST /v1/orders", body, work)


@router.post(
    "/events",
    response_model=EventOut,
    status_code=202,
    summary="Record a custom event",
)
def post_event(
    body: EventIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Stored for the engine, which enrolls the customer in workflows the event triggers.
    An event `id` (or else the Idempotency-Key) is stored once."""
    context = web_context(request)
    now = context.clock.now()
    kind = event_type(body)
    email = event_email(body)
    if body.id is not None:
        event_key: str | None = f"event:{body.id}"
    elif key is not None:
        event_key = f"event:{client[:16]}:{key}"
    else:
        event_key = None

    def work(session: Session) -> Answer:
        occurred_at = body.occurred_at or now
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=context.settings.zone)
        written = write_event(session, email, kind, body.data, occurred_at, now, event_key)
        out = EventOut(
            event_id=written.event_id, customer_id=written.customer_id, duplicate=not written.stored
        )
        return Answer(202, out, written.customer_id)

    return answer_once(context, client, key, "POST /v1/events", body, work)
