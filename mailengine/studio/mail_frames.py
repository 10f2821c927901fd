"""The HTML a preview frame shows: the mail as sent, made inert, and its dark-mode view.

Frames are `<iframe sandbox srcdoc=...>`: no script in a mail runs, and a click on a link
goes nowhere (`<base target="_blank">` asks for a new window, which the sandbox refuses), so
looking at a preview never follows a tracked link.

The dark view shows what a dark-mode client would: when the mail has its own
`@media (prefers-color-scheme: dark)` rules they are switched on (the frame cannot ask the
browser for a dark scheme of its own); without them, colours are inverted as the Gmail and
Outlook apps do for mail that says nothing about dark mode, images left as they are.

Pure: strings in, strings out.
"""

from __future__ import annotations

import re
from typing import Literal

DarkMode = Literal["own rules", "inverted"]
_DARK_MEDIA = re.compile(
    r"@media\s*(?:screen\s+and\s*)?\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE
)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_HTML_START = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
INERT_LINKS = '<base target="_blank">'
INVERTED_STYLE = (
    "<style>:root{color-scheme:dark}"
    "html{filter:invert(1) hue-rotate(180deg);background:#fff}"
    "img,picture,video{filter:invert(1) hue-rotate(180deg)}</style>"
)
DARK_SCHEME_STYLE = "<style>:root{color-scheme:dark}</style>"


def inert(html_body: str) -> str:
    """The mail for a sandboxed frame: links open nothing."""
    return _into_head(html_body, INERT_LINKS)


def dark_mode(html_body: str) -> tuple[str, DarkMode]:
    """The mail as a dark-mode client shows it, and how that view was made."""
    if _DARK_MEDIA.search(html_body):
        switched = _DARK_MEDIA.sub("@media all", html_body)
        return _into_head(switched, INERT_LINKS + DARK_SCHEME_STYLE), "own rules"
    return _into_head(html_body, INERT_LINKS + INVERTED_STYLE), "inverted"


def _into_head(html_body: str, markup: str) -> str:
    end = _HEAD_END.search(html_body)
    if end is not None:
        return html_body[: end.start()] + markup + html_body[end.start() :]
    start = _HTML_START.search(html_body)
    if start is not None:
        return html_body[: start.end()] + f"<head>{markup}</head>" + html_body[start.end() :]
    return markup + html_body
