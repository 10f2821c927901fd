"""The reference server of `ingest_bench.py`: FastAPI with one route that validates an event
and answers 202 without storing it, under the same uvicorn (httptools) as `mailengine run`.

What the machine gives an HTTP API at all at that moment: the bench's runs are printed as a
ratio of it, so that a busy machine does not read as a slow engine.

    uvicorn --app-dir bench ingest_reference:app --port PORT
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

app = FastAPI(openapi_url=None)


class Event(BaseModel):
    type: str
    email: str
    data: dict[str, Any] = Field(default_factory=dict)


@app.post("/v1/events", status_code=202)
async def post_event(
    body: Event,
    authorization: Annotated[str, Header()],
    key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    return {"event_id": 1, "customer_id": 1, "duplicate": False}
