"""Rendered mail kept for a few minutes, so preview frames can load it by an unguessable URL.

A mail cannot be shown in an `<iframe srcdoc>` under the studio's Content-Security-Policy
(a srcdoc frame inherits the page's policy, which allows no inline style and no remote image:
a mail needs both). Each frame therefore loads `/studio/frames/TOKEN/VIEW`, served under a
policy of its own that allows inline styles and images but no script, sandboxed. The token
is random (128 bits), belongs to the user who rendered the mail, and the store keeps only
the newest renders (an editor re-renders on every pause in typing).

Pure: no I/O. Safe to share between threads.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

KEPT = 200  # renders, across users: a few minutes of typing in a few editors
LIFETIME = 30 * 60.0  # seconds
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "font-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox"
)
FRAME_HEADERS = {
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": FRAME_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}


@dataclass(frozen=True)
class _Kept:
    owner: int
    views: Mapping[str, str]
    stored_at: float


class FrameStore:
    def __init__(self, kept: int = KEPT, lifetime: float = LIFETIME) -> None:
        self._kept = kept
        self._lifetime = lifetime
        self._items: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, owner: int, views: Mapping[str, str]) -> str:
        """Keep `views` (view name → HTML) for user `owner`; the token to load them by."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = _Kept(owner, dict(views), time.monotonic())
            while len(self._items) > self._kept:
                self._items.popitem(last=False)
        return token

    def get(self, owner: int, token: str, view: str) -> str | None:
        """The HTML of `view`, if `token` is `owner`'s and still kept."""
        with self._lock:
            kept = self._items.get(token)
        if kept is None or kept.owner != owner:
            return None
        if time.monotonic() - kept.stored_at > self._lifetime:
            return None
        return kept.views.get(view)
