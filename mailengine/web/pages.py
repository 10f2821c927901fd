"""Small HTML pages for people following links from mail: escaped, uncached, script-free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from mailengine.config import Settings

PAGES = Path(__file__).parent / "pages"
# The token in the URL must not leak (Referer, caches, search engines); no script runs at all.
# `same-origin`, not `no-referrer`: under no-referrer browsers send `Origin: null` with the
# page's own form, which `sent_from_here` must then refuse; same-origin still sends the URL
# to no other site, and our own forms carry their real Origin.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


def page_environment(folder: Path) -> Environment:
    """Jinja for HTML pages in `folder`: everything escaped, a missing value an error."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_environment = page_environment(PAGES)


def page(settings: Settings, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    sender = settings.sender
    shop = {
        "name": sender.from_name,
        "url": sender.shop_url,
        "address": sender.reply_to or sender.from_address,
        "postal_address": sender.postal_address,
    }
    text = _environment.get_template(name).render(shop=shop, **context)
    return HTMLResponse(text, status_code=status_code, headers=PAGE_HEADERS)


def message_page(
    settings: Settings, title: str, text: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    """A page that only says something: a heading and a paragraph (and an optional link)."""
    context = {"title": title, "text": text, "link": None, "link_text": None} | extra
    return page(settings, "message.html", status_code, **context)


def invalid_link(settings: Settings) -> HTMLResponse:
    return message_page(
        settings,
        "This link does not work",
        "It may have been cut short or changed on the way, or it is from an email more than "
        f"{settings.http.link_validity_days} days old. Open it again from a recent email, "
        "copying the whole link, or simply reply to the email and we will help.",
        status_code=400,
    )


def masked(email: str | None) -> str:
    """`a•••@example.com`: enough to recognise one's own address, not to learn someone's."""
    if not email:
        return "this address"
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"
