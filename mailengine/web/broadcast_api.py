"""The broadcasts API: create and schedule a broadcast from JSON (for shops that generate their
newsletters), list and read the stored ones with their figures, pause, resume and cancel.

A broadcast sent here passes what `mailengine broadcast schedule` asks of a file: the loader
and its validation (422 naming each wrong field), the template checks and renders for sample
customers (the engine's check, handed to the app), and a send time that has not passed. It is
stored with origin `api` and its JSON as the source. A name is sent once: the same name with
another body is a 409, the same body again a 200 that changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailengine.broadcasts.loader import load_broadcasts
from mailengine.broadcasts.timing import timing
from mailengine.store import broadcast_runs as runs
from mailengine.store.broadcast_models import BroadcastRun
from mailengine.web.api_keys import Client, api_router
from mailengine.web.broadcast_body import BroadcastBody, read_body, refusal
from mailengine.web.broadcast_schemas import (
    BroadcastDetail,
    BroadcastIn,
    BroadcastList,
    BroadcastOut,
    Moved,
)
from mailengine.web.broadcast_views import broadcast_detail, broadcast_list, broadcast_out
from mailengine.web.context import WebContext, web_context
from mailengine.web.idempotency import Answer, IdempotencyKey, answer_once
from mailengine.web.schemas import Problem, field_error

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No broadcast of that name is stored"},
}
_BODY_SCHEMA = BroadcastIn.model_json_schema(ref_template="#/components/schemas/{model}")

router = api_router("broadcasts")


async def raw_body(request: Request) -> bytes:
    """The body as sent: the broadcast loader reads it, not FastAPI."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


@router.post(
    "/broadcasts",
    response_model=BroadcastOut,
    status_code=201,
    summary="Create and schedule a broadcast",
    responses={
        200: {"model": BroadcastOut, "description": "This broadcast was stored before"},
        409: {"model": Problem, "description": "The name is taken, or the key was reused"},
        503: {"model": Problem, "description": "This server does not schedule broadcasts"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
    },
)
def post_broadcast(
    request: Request,
    client: Client,
    raw: RawBody,
    key: IdempotencyKey = None,
    now: bool = False,
) -> JSONResponse:
    """The fields of a `broadcasts/NAME.yaml` file, as JSON. Checked as `mailengine broadcast
    schedule` checks a file (templates, renders for sample customers); `now=true` sends it at
    once when its send_at has passed."""
    context = web_context(request)
    body = read_body(raw)
    found = body.broadcast
    stored = _stored_answer(context, body)
    if stored is not None:
        return stored
    taken = _file_named(context, found.name)
    if taken is not None:
        return _conflict(f"the broadcast file {taken} is named {found.name}; use another name")
    check = context.broadcast_check
    if check is None:
        raise HTTPException(503, "this server does not schedule broadcasts")
    moment = context.clock.now()
    problems = check(found, moment)
    if problems:
        raise refusal(problems, body.document)
    when = timing(found, context.settings.zone, moment, now)
    if when.passed:
        raise field_error(
            ("body", "send_at"),
            f"{when.passed_words(context.settings.zone)}; set a new send_at, or send it "
            "with now=true to send it at once",
        )

    def work(session: Session) -> Answer:
        done = runs.schedule(
            session, name=found.name, origin="api", path=None, version=found.version,
            source=body.source, plan_at=when.plan_at, now=moment, by=f"api:{client[:12]}",
            replace=False,
        )  # fmt: skip
        run = runs.load(session, found.name)
        if done.outcome == "refused" or run is None:
            return Answer(409, Problem(detail=done.reason))
        out = broadcast_out(context, session, run)
        return Answer(201 if done.outcome == "created" else 200, out)

    try:
        return answer_once(context, client, key, "POST /v1/broadcasts", body.source, work)
    except IntegrityError:  # the same name, created by a request running at the same time
        answer = _stored_answer(context, body)
        return answer or _conflict(f"{found.name} is taken by another broadcast")


@router.get("/broadcasts", response_model=BroadcastList, summary="The stored broadcasts")
def list_broadcasts(request: Request, client: Client) -> BroadcastList:
    """Every scheduled broadcast (from a file or this API): its state, when it is planned
    and sent, and its messages by outbox state."""
    context = web_context(request)
    with context.database.session() as session:
        return BroadcastList(broadcasts=broadcast_list(context, session))


@router.get(
    "/broadcasts/{name}",
    response_model=BroadcastDetail,
    summary="One broadcast with its figures",
    responses=NOT_FOUND,
)
def get_broadcast(name: str, request: Request, client: Client) -> BroadcastDetail:
    """Its state and messages by outbox state; each variant's figures (rates with 95 %
    intervals, per delivered message) and the variant that wins by its winner rule."""
    context = web_context(request)
    with context.database.session() as session:
        run = _run(session, name)
        return broadcast_detail(context, session, run)


def _move(name: str, request: Request, client: Client, key: str | None, verb: str) -> JSONResponse:
    context = web_context(request)
    moment = context.clock.now()

    def work(session: Session) -> Answer:
        run = _run(session, name)
        if verb == "pause":
            moved = runs.pause(session, name, moment)
        elif verb == "resume":
            found = context.stored_broadcasts.read(run)
            throttled = found is not None and found.throttle is not None
            moved = runs.resume(session, name, moment, shift=throttled)
        else:
            moved = runs.cancel(session, name, moment)
        if not moved.applied:
            return Answer(409, Problem(detail=moved.reason))
        state = _run(session, name).state
        return Answer(200, Moved(name=name, state=state, messages=moved.messages))

    return answer_once(context, client, key, f"POST /v1/broadcasts/{name}/{verb}", "", work)


_MOVE_ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": Problem, "description": "Not possible in the broadcast's state"},
}
_MOVES = {
    "pause": (
        "Pause a broadcast",
        "Planning stops and planned mail that has not left is held (messages already handed "
        "to a connection still go).",
    ),
    "resume": (
        "Resume a paused broadcast",
        "Held mail is released (a throttled broadcast's later by the pause's length, to keep "
        "its pace) and planning goes on.",
    ),
    "cancel": (
        "Cancel a broadcast for good",
        "Mail that has not left is dropped; the name cannot be used again.",
    ),
}


def _move_endpoint(verb: str) -> Callable[..., JSONResponse]:
    def endpoint(
        name: str, request: Request, client: Client, key: IdempotencyKey = None
    ) -> JSONResponse:
        return _move(name, request, client, key, verb)

    endpoint.__name__ = f"{verb}_broadcast"
    return endpoint


for _verb, (_summary, _description) in _MOVES.items():
    router.add_api_route(
        f"/broadcasts/{{name}}/{_verb}",
        _move_endpoint(_verb),
        methods=["POST"],
        response_model=Moved,
        summary=_summary,
        description=_description,
        responses=_MOVE_ERRORS,
    )


def _run(session: Session, name: str) -> BroadcastRun:
    run = runs.load(session, name)
    if run is None:
        raise HTTPException(404, f"no broadcast named {name} is stored")
    return run


def _stored_answer(context: WebContext, body: BroadcastBody) -> JSONResponse | None:
    """200 with the stored broadcast when it is this one (the same body, through the API);
    409 when its name is taken; None when the name is free."""
    found = body.broadcast
    with context.database.session() as session:
        run = runs.load(session, found.name)
        if run is None:
            return None
        if run.origin != "api" or run.version != found.version:
            came = "a broadcast file" if run.origin == "file" else "another request"
            return _conflict(f"{found.name} is taken: {came} scheduled a broadcast of that name")
        out = broadcast_out(context, session, run)
    return JSONResponse(out.model_dump(mode="json"), status_code=200)


def _file_named(context: WebContext, name: str) -> str | None:
    """The broadcast file of that name, if the broadcasts folder has one."""
    folder = context.settings.paths.broadcasts
    found = load_broadcasts([folder]).broadcasts.get(name)
    return found.path if found is not None else None


def _conflict(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=409)
