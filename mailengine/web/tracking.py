"""Open pixel and click redirects: targets come from stored links, never from the URL.

A key made with the shop's secret (`outbound.tracking_links`) names the message, the link's
place and the message's link list; a 16-character key is a link of mail sent before link
lists, looked up in `tracked_link`.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from mailengine.outbound import read_key
from mailengine.store.api_queries import LinkTarget, find_link, record_tracking_event
from mailengine.store.link_lists import find_listed_link
from mailengine.web.context import WebContext, web_context

router = APIRouter(tags=["tracking"])

# The smallest transparent GIF (43 bytes).
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)
LEGACY_KEY_LENGTH = 16
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "X-Content-Type-Options": "nosniff"}


@router.get(
    "/o/{key}.gif",
    summary="Open pixel",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}}, 404: {"description": "Unknown key"}},
)
def open_pixel(key: str, request: Request) -> Response:
    context = web_context(request)
    if not _KEY.match(key):
        return Response(status_code=404, headers=NO_STORE)
    with context.database.transaction() as session:
        link = _link(context, session, key)
        if link is None or link.url is not None:
            return Response(status_code=404, headers=NO_STORE)
        record_tracking_event(session, link.outbox_id, "open", context.clock.now())
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/c/{key}",
    summary="Click redirect",
    response_class=RedirectResponse,
    status_code=302,
    responses={404: {"description": "Unknown key"}},
)
def click(key: str, request: Request) -> Response:
    """302 to the URL stored for this key when the message was sent; unknown keys are 404."""
    context = web_context(request)
    if not _KEY.match(key):
        return Response(status_code=404, headers=NO_STORE)
    with context.database.transaction() as session:
        link = _link(context, session, key)
        if link is None or link.url is None or not _web_url(link.url):
            return Response(status_code=404, headers=NO_STORE)
        now = context.clock.now()
        record_tracking_event(session, link.outbox_id, "click", now, link.id, listed=link.listed)
    return RedirectResponse(link.url, status_code=302, headers=NO_STORE)


def _link(context: WebContext, session: Session, key: str) -> LinkTarget | None:
    """The message and URL (None: the pixel) a key stands for; None for a key not made here or
    whose message no longer names the list (its customer was erased)."""
    if len(key) == LEGACY_KEY_LENGTH:
        return find_link(session, key)
    said = read_key(context.secret, key)
    if said is None:
        return None
    return find_listed_link(session, said.outbox_id, said.position, said.digest)


def _web_url(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))
