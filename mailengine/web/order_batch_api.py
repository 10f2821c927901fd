"""`POST /v1/orders:batch`: up to 1,000 orders inserted or updated in one transaction.

For a shop's import or a marketplace's feed. Each order is checked and written on its own, as
`POST /v1/orders` does (upsert by external id, a new one emits `order.placed`): its result,
in order, is `accepted` (new), `updated` (its external id was known) or `refused` naming the
field, and a refused one never stops the rest. All are written in the intake's next group
commit and answered once it is committed; the batch's Idempotency-Key replays the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from mailengine.store.api_queries import OrderWritten, write_order
from mailengine.store.order_intake import write_orders
from mailengine.store.records import OrderUpsert
from mailengine.web.api_keys import Client, api_router
from mailengine.web.context import web_context
from mailengine.web.idempotency import Answer, IdempotencyKey, answer_once_grouped
from mailengine.web.schemas import OrderIn, order_record

BATCH = "POST /v1/orders:batch"
MOST_IN_A_BATCH = 1_000

router = api_router()


class OrderBatchIn(BaseModel):
    orders: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MOST_IN_A_BATCH)]


class OrderResult(BaseModel):
    status: Literal["accepted", "updated", "refused"]
    external_id: str | None = None
    customer_id: int | None = None
    event_id: int | None = None
    field: list[str | int] | None = None
    reason: str | None = None


class OrderBatchOut(BaseModel):
    accepted: int
    updated: int
    refused: int
    results: list[OrderResult]


@router.post(
    "/orders:batch",
    response_model=OrderBatchOut,
    summary="Insert or update up to 1,000 orders in one transaction",
)
async def post_order_batch(
    body: OrderBatchIn, request: Request, client: Client, key: IdempotencyKey = None
) -> JSONResponse:
    """Each order gets a result in order: `accepted`, `updated` or `refused` with the field.
    The others are written in one transaction; the answer comes once it is committed."""
    context = web_context(request)
    now = context.clock.now()
    settings = context.settings
    checked = [
        _checked(raw, position, settings.zone, settings.currency, now)
        for position, raw in enumerate(body.orders)
    ]

    def work(session: Session) -> Answer:
        results = _write_all(session, checked, now)
        out = OrderBatchOut(
            accepted=sum(1 for item in results if item.status == "accepted"),
            updated=sum(1 for item in results if item.status == "updated"),
            refused=sum(1 for item in results if item.status == "refused"),
            results=results,
        )
        return Answer(200, out, exclude_none=True)

    return await answer_once_grouped(context, client, key, BATCH, body, work)


def _checked(
    raw: dict[str, Any], position: int, zone: ZoneInfo, currency: str, now: datetime
) -> OrderUpsert | OrderResult:
    where: list[str | int] = ["body", "orders", position]
    try:
        return order_record(OrderIn.model_validate(raw), zone, currency, now)
    except ValidationError as error:
        first = error.errors()[0]
        return OrderResult(status="refused", field=[*where, *first["loc"]], reason=first["msg"])
    except RequestValidationError as error:  # a value the import's rules refuse
        first = error.errors()[0]
        field = [*where, *list(first.get("loc", ()))[1:]]
        return OrderResult(status="refused", field=field, reason=str(first.get("msg", "")))


def _write_all(
    session: Session, checked: list[OrderUpsert | OrderResult], now: datetime
) -> list[OrderResult]:
    """All orders written together; when that fails, each on its own, so one fails alone."""
    records = [
        (position, item) for position, item in enumerate(checked) if isinstance(item, OrderUpsert)
    ]
    try:
        with session.begin_nested():
            written = write_orders(session, [record for _, record in records], now)
    except Exception:  # each order again, alone: the one that fails is named
        return [
            item if isinstance(item, OrderResult) else _write(session, item, position, now)
            for position, item in enumerate(checked)
        ]
    results = {
        position: _result(record, outcome)
        for (position, record), outcome in zip(records, written, strict=True)
    }
    return [
        item if isinstance(item, OrderResult) else results[position]
        for position, item in enumerate(checked)
    ]


def _result(record: OrderUpsert, written: OrderWritten) -> OrderResult:
    return OrderResult(
        status="accepted" if written.created else "updated",
        external_id=record.external_id,
        customer_id=written.customer_id,
        event_id=written.event_id,
    )


def _write(session: Session, record: OrderUpsert, position: int, now: datetime) -> OrderResult:
    """One order in a savepoint of its own: a database refusal fails it alone."""
    try:
        with session.begin_nested():
            written = write_order(session, record, now)
    except Exception as error:
        reason = str(error).splitlines()[0][:200]
        return OrderResult(status="refused", field=["body", "orders", position], reason=reason)
    return _result(record, written)
