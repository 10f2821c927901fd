"""The pages behind the links in every mail: unsubscribe, preferences, double opt-in.

`POST /u/{token}` is the RFC 8058 one-click endpoint named in `List-Unsubscribe`: no cookie,
no authentication, no redirect; either form encoding; 200. The signed token is the only
credential. A forged or altered token gets a 400 page and changes nothing.

Confirming consent takes a POST (the page's button): mail scanners that fetch every link in
a message must not be able to say yes for the reader.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse

from mailengine.store.privacy import (
    LinkHolder,
    confirm_consent,
    link_holder,
    preferences_of,
    save_preferences,
    unsubscribe,
)
from mailengine.store.suppressions import blocks
from mailengine.tokens import make_token, read_token
from mailengine.web.context import PreferenceTopic, WebContext, client_ip, web_context
from mailengine.web.pages import invalid_link, masked, message_page, page

router = APIRouter(
    tags=["links"],
    default_response_class=HTMLResponse,
    responses={400: {"description": "A forged or altered link", "content": {"text/html": {}}}},
)

ONE_CLICK_VALUE = "One-Click"
# Why an address gets no mail at all, as its owner reads it (suppression reason -> words).
NEVER_MAIL_BECAUSE = {
    "hard-bounce": "mail to it could not be delivered",
    "complaint": "one of our emails to it was reported as spam",
    "forgotten": "its data was erased on request",
}


def _holder_hash(context: WebContext, purpose: str, token: str) -> str | None:
    validity = timedelta(days=context.settings.http.link_validity_days)
    return read_token(context.secret, purpose, token, context.clock.now(), validity)


@router.get("/u/{token}", summary="Unsubscribe page")
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    digest = _holder_hash(context, "unsubscribe", token)
    if digest is None:
        return invalid_link(context.settings)
    with context.database.session() as session:
        holder = link_holder(session, digest)
        choices = context.choices(session)
    done = holder.suppression is not None or holder.consent_status == "withdrawn"
    preferences = make_token(context.secret, "preferences", digest, context.clock.now())
    return page(
        context.settings,
        "unsubscribe.html",
        **_what_holds(context, holder, choices),
        done=done,
        # relative: right behind any proxy prefix, and forms post back to their own URL
        preferences_url=f"../preferences/{preferences}" if choices else "",
    )


@router.post("/u/{token}", summary="One-click unsubscribe (RFC 8058)")
def unsubscribe_now(
    token: str,
    request: Request,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
) -> HTMLResponse:
    """Withdraws marketing consent and suppresses the address; answers 200 with a page."""
    context = web_context(request)
    digest = _holder_hash(context, "unsubscribe", token)
    if digest is None:
        return invalid_link(context.settings)
    source = "one-click" if one_click == ONE_CLICK_VALUE else "unsubscribe-page"
    with context.database.transaction() as session:
        unsubscribe(session, digest, source, client_ip(request), context.clock.now())
        holder = link_holder(session, digest)
        choices = context.choices(session)
    return page(
        context.settings,
        "unsubscribe.html",
        **_what_holds(context, holder, choices),
        done=True,
        preferences_url="",
    )


@router.get("/preferences/{token}", summary="Email preferences page")
def preferences_page(token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    digest = _holder_hash(context, "preferences", token)
    if digest is None:
        return invalid_link(context.settings)
    return _preferences(context, digest, saved=False)


@router.post("/preferences/{token}", summary="Save email preferences")
def save_preferences_page(
    token: str,
    request: Request,
    topic: Annotated[list[str] | None, Form()] = None,
    action: Annotated[str, Form(max_length=20)] = "save",
) -> HTMLResponse:
    """`topic`: the topics to keep (the others stop); `action=unsubscribe` stops all.
    Only a form sent from this site's own page counts (Origin, or else Referer)."""
    context = web_context(request)
    digest = _holder_hash(context, "preferences", token)
    if digest is None:
        return invalid_link(context.settings)
    if not sent_from_here(request, context.settings.http.public_url):
        return message_page(
            context.settings,
            "Nothing was changed",
            "This form was sent from another site. Open the preferences link in your email "
            "and choose there.",
            status_code=403,
        )
    now = context.clock.now()
    with context.database.transaction() as session:
        if action == "unsubscribe":
            unsubscribe(session, digest, "preferences-page", client_ip(request), now)
        else:
            holder = link_holder(session, digest)
            if holder.customer_id is not None:
                kept = set(topic or ())
                offered = context.choices(session)
                choices = {item.name: item.name in kept for item in offered}
                save_preferences(session, holder.customer_id, choices, now)
    return _preferences(context, digest, saved=True)


def sent_from_here(request: Request, public_url: str) -> bool:
    """Whether a form post came from one of our own pages: its Origin (or, without one, its
    Referer) is the public URL's origin or the one the request was made to. A post with
    neither header is taken, as old or privacy-minded browsers send none; a browser that
    carries a post from another site always names that site."""
    ours = {_origin(public_url), _origin(str(request.base_url))}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.rstrip("/").lower() in ours
    referer = request.headers.get("referer")
    return referer is None or _origin(referer) in ours


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


def _preferences(context: WebContext, digest: str, *, saved: bool) -> HTMLResponse:
    with context.database.session() as session:
        holder = link_holder(session, digest)
        chosen = preferences_of(session, holder.customer_id) if holder.customer_id else {}
        choices = context.choices(session)
    topics = [
        {
            "name": item.name,
            "label": item.label,
            "description": item.description,
            "wanted": chosen.get(item.name, True),
        }
        for item in choices
    ]
    return page(
        context.settings,
        "preferences.html",
        **_what_holds(context, holder, choices),
        saved=saved,
        topics=topics if holder.customer_id is not None else [],
    )


def _what_holds(
    context: WebContext, holder: LinkHolder, choices: tuple[PreferenceTopic, ...]
) -> dict[str, Any]:
    """What the address gets now, as the pages say it: no mail at all (and why), or no
    marketing (unsubscribed, or never subscribed), and the service mail that still comes."""
    reason = holder.suppression
    never = reason is not None and blocks(reason, "transactional")
    return {
        "address": masked(holder.email),
        "never_mail": NEVER_MAIL_BECAUSE.get(reason or "", "it was taken off our list")
        if never
        else "",
        "unsubscribed": reason is not None or holder.consent_status == "withdrawn",
        "subscribed": holder.consent_status == "granted" and reason is None,
        "stopped": [topic.label for topic in choices],
        "service": context.service_mail,
        # Only a confirmed double opt-in lifts an unsubscribe: signing up again helps only then.
        "resubscribe": context.confirmation is not None,
    }


@router.get("/confirm/{token}", summary="Double opt-in confirmation page")
def confirm_page(token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    digest = _holder_hash(context, "confirm", token)
    if digest is None:
        return invalid_link(context.settings)
    with context.database.session() as session:
        holder = link_holder(session, digest)
    if holder.consent_status == "granted":
        return _confirmed(context, already=True)
    if holder.consent_status != "pending":
        return _nothing_pending(context)
    return page(
        context.settings,
        "confirm.html",
        address=masked(holder.email),
    )


@router.post("/confirm/{token}", summary="Confirm a subscription (double opt-in)")
def confirm_now(token: str, request: Request) -> HTMLResponse:
    context = web_context(request)
    digest = _holder_hash(context, "confirm", token)
    if digest is None:
        return invalid_link(context.settings)
    with context.database.transaction() as session:
        outcome = confirm_consent(session, digest, client_ip(request), context.clock.now())
    if outcome == "nothing-pending":
        return _nothing_pending(context)
    return _confirmed(context, already=outcome == "already")


def _confirmed(context: WebContext, *, already: bool) -> HTMLResponse:
    shop = context.settings.sender
    return message_page(
        context.settings,
        "You are subscribed" if already else "Thank you, you are subscribed",
        f"You will get newsletters and offers from {shop.from_name}. Every email has a link "
        "to unsubscribe or to choose which emails you get.",
        link=shop.shop_url,
        link_text=f"Visit {shop.from_name}",
    )


def _nothing_pending(context: WebContext) -> HTMLResponse:
    return message_page(
        context.settings,
        "Nothing to confirm",
        "This address has no subscription waiting for confirmation. To subscribe, sign up "
        "again in the shop.",
        link=context.settings.sender.shop_url,
        link_text="Go to the shop",
    )
