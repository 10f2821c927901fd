"""`/v/<token>`: the hosted copy of one sent message, the page "View this email in your
browser" opens. The token is signed for that message (`tokens.make_message_token`) and
expires with the other links of the mail (`http.link_validity_days`); the page is rendered
from the outbox row each time (`outbound.hosted_html`), never stored.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from mailengine.outbound import Composer, hosted_html
from mailengine.tokens import read_message_token
from mailengine.web.context import web_context

# The mail as it was sent, and nothing it did not do there: no script, no form, no frame.
HEADERS = {
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": (
        "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}
GONE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>Not available</title>'
    "<p>This copy of the email is not available: the link is wrong or too old, or the "
    "email was not sent.</p></html>"
)


def add_hosted_copy_routes(app: FastAPI, composer: Composer) -> None:
    router = APIRouter(tags=["links"])

    @router.get("/v/{token}", response_class=HTMLResponse, include_in_schema=False)
    def hosted_copy(token: str, request: Request) -> Response:
        context = web_context(request)
        valid_for = timedelta(days=context.settings.http.link_validity_days)
        outbox_id = read_message_token(context.secret, token, context.clock.now(), valid_for)
        html = None
        if outbox_id is not None:
            with context.database.transaction() as session:
                html = hosted_html(session, composer, outbox_id)
        if html is None:
            return HTMLResponse(GONE, status_code=404, headers=HEADERS)
        return HTMLResponse(html, headers=HEADERS)

    app.include_router(router)
