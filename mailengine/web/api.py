"""The shop's API: customers and orders, recorded for the engine to act on (custom events:
`web.event_api`).

Each write runs in the intake's next group commit (`web.intake`): concurrent requests share
one transaction, and each is answered once it is committed. The database work runs on the
intake's thread, never on the event loop that also runs the scheduler and the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from mailengine.store.api_queries import write_customer
from mailengine.store.order_intake import IncomingOrder, store_orders
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
    CustomerIn,
    CustomerOut,
    OrderIn,
    OrderOut,
    customer_record,
    order_record,
)

ORDER = "POST /v1/orders"
router = api_router()


@router.post(
    "/customers",
    response_model=CustomerOut,
    summary="Insert or update a customer",
    responses={201: {"model": CustomerOut, "description": "A new customer"}},
)
async def post_customer(
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

    return await answer_once_grouped(context, client, key, "POST /v1/customers", body, work)


@router.post(
    "/orders",
    response_model=OrderOut,
    summary="Insert or update an order",
    responses={201: {"model": OrderOut, "description": "A new order"}},
)
async def post_order(
    body: OrderIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Upsert by external id and refresh the customer's figures; a new order emits
    `order.placed`. An unknown address gets a bare customer without consent."""
    context = web_context(request)
    return await order_answer(context, body, client, key)


def order_answer(
    context: WebContext, body: OrderIn, client: str, key: str | None
) -> Awaitable[JSONResponse]:
    """Checks `body` now (an HTTPException names a refused field); what it returns writes the
    order in the intake's next group commit and answers once committed."""
    now = context.clock.now()
    record = order_record(body, context.settings.zone, context.settings.currency, now)
    order = IncomingOrder(client, key, hash_request(ORDER, body), record)
    return _order_stored(context, order)


async def _order_stored(context: WebContext, order: IncomingOrder) -> JSONResponse:
    [answer] = await context.intake.store([order], store_orders, ORDER)
    return response_of(answer)
