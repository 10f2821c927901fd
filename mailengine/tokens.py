"""Signed link tokens (unsubscribe, preferences, opt-in), bound to an address, a purpose and
the day they were issued.

A token is `<subject>.<day>.<signature>`: the subject is the address hash, the day the one it
was issued on (days since 1970-01-01, UTC), the signature an HMAC-SHA256 over purpose, subject
and day. Changing any part, or using a token for another purpose, breaks the signature; a
token older than its validity is refused. Each part must be the one base64url spelling of its
bytes (no padding, no spare bits), so an altered last character or an appended `==` never
reads as the same token. Checks run in constant time.

A `scope` narrows a purpose to one thing named in the link beside the token: a poll link's
scope is its poll, answer and mail, so the same token neither answers another poll nor gives
another answer. They are signed as `purpose/scope`; no purpose holds a `/`, so no scope makes
a token of one purpose read as one of another.

Tokens of the earlier form `<subject>.<signature>` (no day) are still read for unsubscribing
only, so that links in mail sent before issue days existed keep working.

A message token (`make_message_token`, purpose `view`: the hosted copy of one sent message)
has the same form with the message's outbox id (8 bytes) as its subject.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

PURPOSES = ("unsubscribe", "preferences", "confirm", "poll", "questionnaire")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_MAX_TOKEN_LENGTH = 200


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # base64.urlsafe_b64encode's steps without its two Python frames (a dozen a message)
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URL_SAFE).decode()


def _unb64(text: str) -> bytes:
    """The bytes of canonical unpadded base64url text; ValueError for any other spelling."""
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # spare bits set in the last character
        raise ValueError("not the canonical spelling")
    return data


def _signature(secret: bytes, purpose: str, subject: bytes, day: bytes = b"") -> bytes:
    # Not hmac.digest: CPython releases the GIL around that one-shot call whatever the size,
    # and getting it back while other threads compose mail can take a 5 ms switch interval
    # (measured: 293 calls/s beside one busy thread, against 113,000/s for hmac.new).
    message = purpose.encode() + b"\x00" + subject + (b"\x00" + day if day else b"")
    keyed = keyed_hmac(secret).copy()
    keyed.update(message)
    return keyed.digest()


@functools.lru_cache(maxsize=16)
def keyed_hmac(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with `secret` and nothing hashed yet, to `copy()` for each message:
    keying it again (two SHA-256 blocks and Python's HMAC set-up) for each of the five or so
    signatures a mail carries cost some 2 us each. Never updated itself."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def signature(secret: bytes, purpose: str, subject: bytes) -> bytes:
    """HMAC-SHA256 of `subject` for `purpose`, for signed keys of other forms (tracked links)."""
    return _signature(secret, purpose, subject)


def purpose_signer(secret: bytes, purpose: str) -> hmac.HMAC:
    """`signature` with `purpose` already hashed: a copy updated with `subject` gives
    `signature(secret, purpose, subject)`, for the many keys of one message (never update
    the signer itself)."""
    signer = keyed_hmac(secret).copy()
    signer.update(purpose.encode() + b"\x00")
    return signer


def to_base64url(data: bytes) -> str:
    """Unpadded base64url, as the tokens' parts are written."""
    return _b64(data)


def from_base64url(text: str) -> bytes:
    """The bytes of canonical unpadded base64url text; ValueError for any other spelling."""
    return _unb64(text)


def issue_day(moment: datetime) -> int:
    """The day number a token issued at `moment` carries."""
    return (moment.astimezone(UTC) - _EPOCH).days


def _scoped(purpose: str, scope: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return f"{purpose}/{scope}" if scope else purpose


def make_token(
    secret: bytes, purpose: str, address_hash: str, issued: datetime, scope: str = ""
) -> str:
    """A token for `purpose` (narrowed to `scope`), issued at `issued`, naming the address
    whose sha256 hex is `address_hash`."""
    signed = _scoped(purpose, scope)
    subject = bytes.fromhex(address_hash)
    day = issue_day(issued).to_bytes(3, "big")
    return f"{_b64(subject)}.{_b64(day)}.{_b64(_signature(secret, signed, subject, day))}"


MESSAGE_PURPOSE = "view"
_MESSAGE_ID_BYTES = 8


def make_message_token(secret: bytes, outbox_id: int, issued: datetime) -> str:
    """A token naming one outbox message, issued at `issued` (its hosted copy's link)."""
    subject = outbox_id.to_bytes(_MESSAGE_ID_BYTES, "big")
    day = issue_day(issued).to_bytes(3, "big")
    signature = _signature(secret, MESSAGE_PURPOSE, subject, day)
    return f"{_b64(subject)}.{_b64(day)}.{_b64(signature)}"


def read_message_token(
    secret: bytes, token: str, now: datetime, valid_for: timedelta
) -> int | None:
    """The outbox id a genuine message token names, or None (forged, altered, expired)."""
    subject = _genuine_subject(secret, MESSAGE_PURPOSE, token, now, valid_for)
    if subject is None or len(subject) != _MESSAGE_ID_BYTES:
        return None
    return int.from_bytes(subject, "big")


def read_token(
    secret: bytes,
    purpose: str,
    token: str,
    now: datetime,
    valid_for: timedelta,
    scope: str = "",
) -> str | None:
    """The address hash a genuine token names, or None for a forged, altered or expired one
    (issued more than `valid_for` before `now`, or after it), or one made for another
    purpose or scope."""
    subject = _genuine_subject(secret, _scoped(purpose, scope), token, now, valid_for)
    if subject is None or len(subject) != 32:
        return None
    return subject.hex()


def _genuine_subject(
    secret: bytes, purpose: str, token: str, now: datetime, valid_for: timedelta
) -> bytes | None:
    if len(token) > _MAX_TOKEN_LENGTH:
        return None
    parts = token.split(".")
    try:
        decoded = [_unb64(part) for part in parts]
    except (binascii.Error, ValueError):
        return None
    if len(decoded) == 3:
        subject, day, signature = decoded
        if len(day) != 3:
            return None
        issued, today = int.from_bytes(day, "big"), issue_day(now)
        if not today - valid_for.days <= issued <= today + 1:  # a clock a little ahead
            return None
    elif len(decoded) == 2 and purpose == "unsubscribe":
        (subject, signature), day = decoded, b""
    else:
        return None
    expected = _signature(secret, purpose, subject, day)
    if not hmac.compare_digest(signature, expected):
        return None
    return subject
