"""Rewrite a rendered message's links through tracked keys and add its open pixel.

Pure: no I/O, no web framework. A message's tracked web links, in order, are its link list;
every message with the same list (a broadcast's million copies, mostly) shares one stored row
(`store.link_lists`), found by the list's digest. A link's public key is signed, not stored:
it carries the outbox id, the link's position (0: the open pixel) and the list's digest, under
an HMAC of them. Rendering the same message again (a retry after a crash) yields the same
keys; a key does not carry its target, which is looked up, never read from the URL (no open
redirect), and a key that was not made here fails its HMAC.

Links to our own pages (unsubscribe, preferences, images) and non-web links (mailto:, tel:,
anchors) are left alone.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailengine.render.html_pieces import LINE_LIMIT, AnchoredHtml
from mailengine.render.wire_html import RelaxedSafeText, SevenBitHtml
from mailengine.tokens import from_base64url, signature, to_base64url

_ANCHOR_HREF = re.compile(
    r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BLANKS_TO_CHECK = re.compile(r"[\t\r\n]|  ")  # what RelaxedSafeText may not hold
MAX_URL_LENGTH = 2000
MAX_LINKS = 1000  # links past this many in one message are left untracked
PIXEL_STYLE = "display:block;border:0;width:1px;height:1px;overflow:hidden"
_ID_BYTES, _POSITION_BYTES, _DIGEST_BYTES, _MAC_BYTES = 6, 2, 9, 7
KEY_LENGTH = 32  # URL-safe characters of a key: 24 bytes in base64
_PURPOSE = "tracked-link"
_HMAC_BLOCK = 64  # SHA-256's block size: HMAC's key length


@dataclass(frozen=True)
class LinkList:
    """The tracked web links of one message in order (position 1 is the first)."""

    digest: str  # 12 URL-safe characters: what the stored list is found by
    urls: tuple[str, ...]

    @classmethod
    def of(cls, urls: tuple[str, ...]) -> LinkList:
        return cls(to_base64url(_list_digest(urls)), urls)


def _list_digest(urls: tuple[str, ...]) -> bytes:
    return hashlib.sha256("\0".join(urls).encode()).digest()[:_DIGEST_BYTES]


@dataclass(frozen=True)
class LinkKey:
    """What a public key says, once its HMAC is checked."""

    outbox_id: int
    position: int  # 0: the open pixel
    digest: str  # of the message's link list


@dataclass(frozen=True)
class TrackedBody:
    html: str
    links: LinkList | None  # None: tracking is off
    keys: tuple[str, ...] = ()  # the public key of each link, in order; the pixel's last

    def targets(self) -> dict[str, str]:
        """Each link's key and where it leads."""
        urls = self.links.urls if self.links is not None else ()
        return dict(zip(self.keys, urls, strict=False))


def link_key(secret: bytes, outbox_id: int, position: int, digest: str) -> str:
    """32 URL-safe characters: unforgeable, stable for the same message, link and list."""
    return _link_keys(secret, outbox_id, [position], from_base64url(digest))[0]


def _link_keys(secret: bytes, outbox_id: int, positions: list[int], digest: bytes) -> list[str]:
    """The keys of one message's links at `positions` of the list whose raw digest is
    `digest`, made together: a key's 24 bytes are 32 base64 characters with no padding, so
    the keys' bytes are written as base64 in one call and cut every 32 characters. The
    outbox id, the same in every key, is hashed once into the inner state the keys start
    from, and a position's two bytes are looked up (some 4 us less a message of 20 links)."""
    start = outbox_id.to_bytes(_ID_BYTES, "big")
    inner_keyed, outer_keyed = _key_hashes(secret)
    message = inner_keyed.copy()
    message.update(start)
    raw: list[bytes] = []
    for position in positions:
        tail = (
            _POSITIONS[position]
            if 0 <= position <= MAX_LINKS
            else position.to_bytes(_POSITION_BYTES, "big")
        ) + digest
        inner = message.copy()
        inner.update(tail)
        outer = outer_keyed.copy()
        outer.update(inner.digest())
        raw += (start, tail, outer.digest()[:_MAC_BYTES])
    text = to_base64url(b"".join(raw))
    return [text[at : at + KEY_LENGTH] for at in range(0, len(text), KEY_LENGTH)]


_POSITIONS = [position.to_bytes(_POSITION_BYTES, "big") for position in range(MAX_LINKS + 1)]


@functools.lru_cache(maxsize=16)
def _key_hashes(secret: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """The HMAC-SHA256 of `signature(secret, "tracked-link", payload)` as its two SHA-256
    states (RFC 2104): the inner one keyed with the purpose hashed, the outer one keyed.
    Only their copies are updated: copying two hashes costs some 1.5 us less a key than
    copying an `hmac` object, 20 times a message."""
    key = (hashlib.sha256(secret).digest() if len(secret) > _HMAC_BLOCK else secret).ljust(
        _HMAC_BLOCK, b"\0"
    )
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    inner.update(_PURPOSE.encode() + b"\x00")
    return inner, hashlib.sha256(bytes(byte ^ 0x5C for byte in key))


def read_key(secret: bytes, key: str) -> LinkKey | None:
    """The key's outbox id, position and list digest; None unless it was made with `secret`."""
    if len(key) != KEY_LENGTH:
        return None
    try:
        raw = from_base64url(key)
    except ValueError:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, signature(secret, _PURPOSE, payload)[:_MAC_BYTES]):
        return None
    position_at = _ID_BYTES + _POSITION_BYTES
    return LinkKey(
        int.from_bytes(payload[:_ID_BYTES], "big"),
        int.from_bytes(payload[_ID_BYTES:position_at], "big"),
        to_base64url(payload[position_at:]),
    )


def click_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}/c/{key}"


def pixel_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}/o/{key}.gif"


def rewrite_links(
    body: str, outbox_id: int, public_url: str, secret: bytes, *, enabled: bool = True
) -> TrackedBody:
    """The HTML with tracked web links and an open pixel, and the message's link list.

    With `enabled=False` (a workflow that turns tracking off) the HTML comes back unchanged.
    """
    if not enabled:
        return TrackedBody(body, None)
    own = public_url.rstrip("/").lower() + "/"
    urls: list[str] = []
    spans: list[tuple[int, int, str]] = []  # where each tracked href is, and what precedes it
    # AnchoredHtml says where each `<a` is: the anchors are matched there, not searched for.
    found = _ANCHOR_HREF.finditer(body)
    if type(body) is AnchoredHtml:
        found = _matched_at(body, body.anchors)
    for match in found:
        opening, double_quoted, single_quoted = match.groups()
        url = _tracked_target(double_quoted if double_quoted is not None else single_quoted, own)
        if url is not None and len(urls) < MAX_LINKS:
            urls.append(url)
            start, end = match.span()
            spans.append((start, end, opening))
    digest = _list_digest(tuple(urls))
    links = LinkList(to_base64url(digest), tuple(urls))
    *keys, pixel_key = _link_keys(secret, outbox_id, [*range(1, len(urls) + 1), 0], digest)
    parts: list[str] = []
    inserted: list[int] = []  # where each inserted piece starts in the rewritten HTML
    at = size = 0
    clicks, pixels = _escaped_starts(public_url)  # a key is URL-safe base64: no escaping
    for (start, end, opening), key in zip(spans, keys, strict=True):
        head, href = body[at:start], f'"{clicks}{key}"'
        parts += [head, opening, href]
        size += len(head) + len(opening)
        inserted.append(size)
        size += len(href)
        at = end
    pixel = (
        f'<img src="{pixels}{pixel_key}.gif" width="1" height="1" alt="" style="{PIXEL_STYLE}" />'
    )
    cut = _body_end(body, at)
    if cut is not None:  # after the last link, as it nearly always is: one join for all
        parts += [body[at:cut], pixel, body[cut:]]
        rewritten = "".join(parts)
        cut = size + cut - at
    else:
        parts.append(body[at:])
        rewritten = "".join(parts)
        cut = _body_end(rewritten, 0)
        if cut is None:
            cut = len(rewritten)
        rewritten = rewritten[:cut] + pixel + rewritten[cut:]
        inserted = [at + len(pixel) if at > cut else at for at in inserted]
    inserted.append(cut)
    if isinstance(body, RelaxedSafeText) and not _BLANKS_TO_CHECK.search(pixel):
        # Each inserted piece starts and ends with a quote or a bracket, where the body had
        # one, and holds the public URL as the pixel does: no blank run is made, so the
        # encoder need not search the body for one again (some 20 us).
        if isinstance(body, SevenBitHtml) and _still_seven_bit(rewritten, inserted, clicks, pixel):
            rewritten = SevenBitHtml(rewritten)
        else:
            rewritten = RelaxedSafeText(rewritten)
    return TrackedBody(rewritten, links, (*keys, pixel_key))


def _matched_at(body: str, anchors: tuple[int, ...]) -> Iterator[re.Match[str]]:
    """What `_ANCHOR_HREF.finditer(body)` finds, given where every `<a` in it starts (a match
    starts with one): each tried there, those inside a match found before skipped."""
    done = 0
    for start in anchors:
        if start >= done:
            match = _ANCHOR_HREF.match(body, start)
            if match is not None:
                done = match.end()
                yield match


def _still_seven_bit(rewritten: str, inserted: list[int], clicks: str, pixel: str) -> bool:
    """Whether HTML that went as 7bit (SevenBitHtml) still does with its links rewritten:
    the pieces inserted (at `inserted`; the pixel holds all an href does) hold no line
    break and start with a quote or "<", so only the lines they went into can have changed,
    and only in length. The rest of it is the body's ASCII, so it is ASCII when the click
    link's start and the pixel are (no pass over all of it)."""
    if not (clicks.isascii() and pixel.isascii()) or "\x00" in pixel or "\n" in pixel:
        return False
    for at in inserted:
        start = rewritten.rfind("\n", 0, at) + 1
        end = rewritten.find("\n", at)
        if (len(rewritten) if end < 0 else end) - start > LINE_LIMIT:
            return False
    return True


@functools.lru_cache(maxsize=16)
def _escaped_starts(public_url: str) -> tuple[str, str]:
    """What a click link and the pixel's address start with, escaped for an attribute (what
    follows, a key and ".gif", needs no escaping)."""
    pixel = pixel_url(public_url, "")
    return html.escape(click_url(public_url, "")), html.escape(pixel.removesuffix(".gif"))


def _body_end(body: str, start: int) -> int | None:
    """Where the last </body> starts, if it starts from `start` on: looked for from the last
    "</body" on, where it nearly always is, and near the end when not."""
    last = body.rfind("</body", start)
    if last >= 0 and _BODY_END.match(body, last) and not _BODY_END.search(body, last + 1):
        return last
    near = max(start, len(body) - 4096)
    ends = list(_BODY_END.finditer(body, near)) or list(_BODY_END.finditer(body, start))
    return ends[-1].start() if ends else None


@functools.lru_cache(maxsize=4096)
def _tracked_target(raw: str, own_prefix: str) -> str | None:
    """Where an href written `raw` leads, if it is a link to track; kept for the links that
    recur in a broadcast's messages (a shop's pages, mostly)."""
    url = (html.unescape(raw) if "&" in raw else raw).strip()
    return url if _trackable(url, own_prefix) else None


def _trackable(url: str, own_prefix: str) -> bool:
    """Whether `url` is a web link to track; `own_prefix` (lower case) starts our own."""
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")) or len(url) > MAX_URL_LENGTH:
        return False
    if "{{" in url or "{%" in url:
        return False  # not rendered yet: tracking runs on the final HTML only
    return not lowered.startswith(own_prefix)
