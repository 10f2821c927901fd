"""The shop's API: customers and orders, recorded for the engine to act on (custom events:
`web.event_api`).

Handlers are plain `def`: FastAPI runs them in its thread pool, so the synchronous database
work never blocks the event loop that also runs the scheduler and the dispatcher.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from mailengine.store.api_queries import write_customer, write_order
from mailengine.web.api_keys import api_client
from mailengine.web.context import web_context
from mailengine.web.idempotency import Answer, IdempotencyKey, answer_once
from mailengine.web.schemas import (
    CustomerIn,
    CustomerOut,
    OrderIn,
    OrderOut,
    Problem,
    customer_record,
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
