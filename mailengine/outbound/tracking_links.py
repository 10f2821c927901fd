"""Rewrite a rendered message's links through tracked keys and add its open pixel.

Pure: no I/O, no web framework. The composer calls `rewrite_links` on the HTML of one outbox
row and stores the returned rows (`store.api_queries.store_tracked_links`) in the same
transaction that records the send. Keys are an HMAC of (outbox id, position, URL): rendering
the same message again (a retry after a crash) yields the same keys, and a key says nothing
about the target, which is looked up, never read from the URL (no open redirect).

Links to our own pages (unsubscribe, preferences, images) and non-web links (mailto:, tel:,
anchors) are left alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from dataclasses import dataclass

from mailengine.store.api_queries import TrackedLinkRow

_ANCHOR_HREF = re.compile(
    r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
MAX_URL_LENGTH = 2000
PIXEL_STYLE = "display:block;border:0;width:1px;height:1px;overflow:hidden"


@dataclass(frozen=True)
class TrackedBody:
    html: str
    rows: tuple[TrackedLinkRow, ...]


def link_key(secret: bytes, outbox_id: int, position: int, url: str | None) -> str:
    """16 URL-safe characters (96 bits): unguessable, stable for the same message and link."""
    message = f"{outbox_id}\0{position}\0{url if url is not None else ''}".encode()
    digest = hmac.new(secret, b"tracked-link\0" + message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def click_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}/c/{key}"


def pixel_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}/o/{key}.gif"


def rewrite_links(
    body: str, outbox_id: int, public_url: str, secret: bytes, *, enabled: bool = True
) -> TrackedBody:
    """The HTML with tracked web links and an open pixel, and the rows to store for them.

    With `enabled=False` (a workflow that turns tracking off) the HTML comes back unchanged.
    """
    if not enabled:
        return TrackedBody(body, ())
    own = public_url.rstrip("/") + "/"
    rows: list[TrackedLinkRow] = []

    def replace(match: re.Match[str]) -> str:
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        url = html.unescape(raw).strip()
        if not _trackable(url, own):
            return match.group(0)
        key = link_key(secret, outbox_id, len(rows) + 1, url)
        rows.append(TrackedLinkRow(key, outbox_id, url, len(rows) + 1))
        return f'{match.group(1)}"{html.escape(click_url(public_url, key))}"'

    rewritten = _ANCHOR_HREF.sub(replace, body)
    pixel_key = link_key(secret, outbox_id, 0, None)
    rows.append(TrackedLinkRow(pixel_key, outbox_id, None, 0))
    pixel = (
        f'<img src="{html.escape(pixel_url(public_url, pixel_key))}" width="1" height="1" '
        f'alt="" style="{PIXEL_STYLE}" />'
    )
    ends = list(_BODY_END.finditer(rewritten))
    if ends:
        at = ends[-1].start()
        rewritten = rewritten[:at] + pixel + rewritten[at:]
    else:
        rewritten += pixel
    return TrackedBody(rewritten, tuple(rows))


def _trackable(url: str, own_prefix: str) -> bool:
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")) or len(url) > MAX_URL_LENGTH:
        return False
    if "{{" in url or "{%" in url:
        return False  # not rendered yet: tracking runs on the final HTML only
    return not lowered.startswith(own_prefix.lower())
