"""Per-message bounce addresses (VERP): `bounces+<send id>-<signature>@domain`.

An asynchronous bounce arrives at the address the message was sent from; decoding it names the
send it belongs to. The signature stops a forged bounce from suppressing an arbitrary send.
Local parts are lower-cased by some servers, so the encoding uses only lower-case letters and
digits.
"""

from __future__ import annotations

import hmac

from mailengine.tokens import keyed_hmac

_SIGNATURE_LENGTH = 12
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("a send id is never negative")
    digits = []
    while True:
        number, remainder = divmod(number, 36)
        digits.append(_ALPHABET[remainder])
        if number == 0:
            return "".join(reversed(digits))


def _signature(send_id: int, secret: bytes) -> str:
    keyed = keyed_hmac(secret).copy()
    keyed.update(f"verp:{send_id}".encode())
    return keyed.hexdigest()[:_SIGNATURE_LENGTH]


def encode_bounce_address(send_id: int, *, local_part: str, domain: str, secret: bytes) -> str:
    """The envelope sender for one send: `bounces+2n9c-1f3a9b0c4d2e@example.com`."""
    return f"{local_part}+{_base36(send_id)}-{_signature(send_id, secret)}@{domain}"


def decode_bounce_address(
    address: str, *, local_part: str, domain: str, secret: bytes
) -> int | None:
    """The send id in a bounce address, or None if it is not one of ours or is forged."""
    address = address.strip().strip("<>").lower()
    local, at, address_domain = address.rpartition("@")
    if not at or address_domain != domain.lower():
        return None
    prefix = local_part.lower() + "+"
    if not local.startswith(prefix):
        return None
    token = local[len(prefix) :]
    encoded_id, dash, signature = token.partition("-")
    if not dash or not encoded_id or any(ch not in _ALPHABET for ch in encoded_id):
        return None
    send_id = int(encoded_id, 36)
    if not hmac.compare_digest(signature, _signature(send_id, secret)):
        return None
    return send_id
